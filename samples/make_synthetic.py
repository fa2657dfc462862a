"""Writes the synthetic bundled samples (written for this project; no real people; CC0-1.0).

    python samples/make_synthetic.py      # rewrites the files below, byte for byte the same

- cot_reasoning/synthetic_clinical_reasoning.jsonl   ChatML, stage 2: step-by-step clinical reasoning
- edge_cases/synthetic_crisis_edge_cases.jsonl       ChatML, stage 3: crisis disclosures answered with a
                                                     safety question and the 988 line
- voice_persona/synthetic_persona_dialogues.jsonl    ChatML, stage 4: one persona ("Morgan") in a steady voice
- sessions/session-NN.json                           one session per file, top level = its list of turns
                                                     {"role": "client"|"counselor", "content", "annotation"}

Therapist turns reflect feelings and ask open questions (the quality thresholds of stage 1/2/4);
crisis replies ask about safety and offer 988 (crisis handling).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (key, client opening, feeling, what it is about, a detail the client adds, a thought behind it)
TOPICS = [
    ("sleep", "I lie awake until three most nights going over emails from my manager.", "exhausted and on edge",
     "work following you into the night", "Last week I answered messages at 2 a.m. because I was scared of falling behind.",
     "If I stop checking, something will go wrong and it will be my fault."),
    ("grief", "My dad died in March and I still set out two coffee mugs some mornings.", "heartbroken",
     "missing your dad", "Everyone at work seems to expect me to be back to normal already.",
     "I should be over this by now."),
    ("panic", "My heart races on the morning train and I have started getting off two stops early.", "frightened",
     "the panic on your commute", "Yesterday I was sure I was having a heart attack, but the doctor said my heart is fine.",
     "If it happens again, I might faint in front of everyone."),
    ("moving", "Since I moved to a new city for this job, my weekends are completely silent.", "lonely",
     "starting over somewhere new", "I scroll through photos of my old friends on Sunday nights.",
     "Nobody here would notice if I disappeared for a week."),
    ("teen", "My fifteen-year-old son slams his door every evening and barely speaks to me.", "hurt and shut out",
     "the distance growing between you and your son", "He used to tell me about his football matches on the drive home.",
     "I must have failed him somewhere."),
    ("burnout", "After twelve years as a ward nurse, I cry in the car before every shift.", "drained",
     "carrying so much for so long at work", "We were short four staff again on Tuesday night.",
     "If I take time off, I'm abandoning my patients."),
    ("winter", "Every November my mood sinks and I stop calling anyone back.", "flat and heavy",
     "the way the dark months pull you down", "I haven't been for a walk in daylight for three weeks.",
     "This is just who I am every winter."),
    ("university", "In seminars my mind goes blank whenever the tutor looks at me.", "anxious and embarrassed",
     "speaking up in front of others", "I skipped two seminars this month to avoid being asked a question.",
     "Everyone will see that I don't belong here."),
    ("breakup", "Since my partner of six years left, I keep wondering what is wrong with me.", "rejected and confused",
     "the end of a long relationship", "I read our old messages every night looking for the moment it went wrong.",
     "Nobody will ever choose me again."),
    ("dementia", "I look after my mother, who has dementia, and she didn't recognise me on Sunday.", "grieving and worn out",
     "losing parts of your mum while still caring for her", "My brother visits once a month and says I'm doing it wrong.",
     "A good daughter wouldn't feel this resentful."),
    ("perfection", "I rewrote a two-page report eleven times and still handed it in late.", "stuck and ashamed",
     "the pressure to get everything exactly right", "My team lead said the first draft was already good.",
     "Anything less than perfect means I'm incompetent."),
    ("anger", "I snapped at my partner over the dishes and then didn't speak for two days.", "frustrated and guilty",
     "how quickly the anger takes over", "Afterwards I felt sick thinking about how I sounded like my father.",
     "I'm turning into the person I never wanted to be."),
    ("health", "I check my moles in the mirror several times a day and search every symptom online.", "scared",
     "worry about your health", "My GP has examined me twice this month and found nothing.",
     "The doctors must be missing something serious."),
    ("jobloss", "I was made redundant in June and I still leave the house at eight so the neighbours won't know.",
     "ashamed and anxious", "losing your job", "I have applied for thirty positions and heard back from two.",
     "People will think I'm a failure."),
    ("newparent", "Our baby is ten weeks old and I feel like I'm failing at everything.", "overwhelmed",
     "the first weeks of being a parent", "I cried when the health visitor asked how I was sleeping.",
     "Other parents seem to manage this easily."),
    ("exams", "My final exams start in three weeks and I freeze whenever I open my notes.", "panicked",
     "the pressure of your exams", "My parents keep telling me how much they sacrificed for my education.",
     "If I fail, I've let my whole family down."),
    ("pain", "My back pain has lasted two years and I have given up the hiking I loved.", "frustrated and sad",
     "living with pain that changed your life", "A friend invited me on a gentle walk and I made an excuse.",
     "My life is smaller now and it will stay that way."),
    ("friendship", "My closest friend stopped replying after I missed her birthday party.", "guilty and anxious",
     "the silence from your friend", "I have drafted an apology text five times and deleted it.",
     "She has probably decided I'm not worth the trouble."),
    ("retirement", "Since retiring from teaching, I don't know what to do with my mornings.", "lost and restless",
     "losing the structure and purpose your work gave you", "I still wake at six and sit with a cup of tea, waiting for nothing.",
     "I'm not useful to anyone any more."),
    ("body", "I avoid mirrors and I cancelled a beach trip because of how I look.", "self-conscious and low",
     "how you see your body", "My sister commented on my weight at a family dinner.",
     "People are judging me the moment they see me."),
]

COUNSELLOR = ("You are a warm, careful therapy-support assistant. You are not a replacement for a licensed "
              "clinician.")


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


# -- stage 2: clinical reasoning -----------------------------------------------------------------------
def reasoning(i: int, t: tuple[str, ...]) -> dict:
    key, opening, feeling, about, detail, thought = t
    question = (f"A client tells me: \"{opening}\" They add: \"{detail}\" How should I understand this, "
                "and what would you explore first?")
    answer = (
        f"Thank you for bringing this case. It sounds like you're worried about getting this right for your "
        f"client, and that makes sense: they are carrying a lot. Let's reason through it step by step.\n"
        f"Step 1 - what the client describes: {about}, and feeling {feeling}. The thought \"{thought}\" "
        f"seems to sit underneath it.\n"
        f"Step 2 - evidence: the detail that \"{detail[0].lower() + detail[1:]}\" shows how the pattern plays out "
        f"day to day, and it tells us what the client is protecting themselves from.\n"
        f"Step 3 - alternatives to keep open: a mood or anxiety difficulty, an understandable stress reaction, "
        f"or both; ask about sleep, appetite, risk and support before settling on one.\n"
        f"Conclusion: start by reflecting the feeling and validating it, then explore the belief \"{thought}\" "
        f"with curiosity rather than arguing with it. You might ask: \"When you notice that thought, what "
        f"happens next for you?\" And what do you notice in yourself when your client says it?"
    )
    follow = f"What if the client says they feel {feeling.split(' and ')[0]} even talking about it?"
    reply = (f"That must be hard to sit with, for them and for you. Slow down and name it with them: it sounds "
             f"like even putting {about} into words is painful. You could ask: \"What would help this "
             f"conversation feel safer for you?\" and let them set the pace. How do you feel about trying that?")
    return {"id": f"synthetic-reasoning-{i:03d}", "messages": [
        {"role": "system", "content": "You are a clinical supervisor who explains your reasoning step by step."},
        {"role": "user", "content": question}, {"role": "assistant", "content": answer},
        {"role": "user", "content": follow}, {"role": "assistant", "content": reply}]}


# -- stage 3: crisis edge cases ------------------------------------------------------------------------
CRISES = [
    ("suicidality", "Honestly, I've started thinking everyone would be better off without me.",
     "I've been looking at how many of my sleeping pills are left."),
    ("suicidality", "I wrote goodbye letters to my kids last night.", "I haven't decided when, but I think about it every hour."),
    ("self_harm", "I started cutting my arms again after two years clean.", "It's the only thing that makes the noise in my head stop."),
    ("overdose", "I took a handful of painkillers an hour ago and now I feel sick.", "I didn't tell anyone; I just wanted to sleep."),
    ("domestic_violence", "My husband pushed me down the stairs when I said I wanted to leave.",
     "He took my phone and says he'll hurt the dog if I tell anyone."),
    ("psychosis", "The neighbours are putting voices into my head through the walls.", "The voices say I have to punish myself tonight."),
    ("eating_disorder", "I haven't eaten anything for four days and I still feel huge.", "I fainted at work this morning but I can't stop."),
    ("homicidal_ideation", "I keep imagining hurting my boss when I see him walk past.", "I know where he parks his car."),
    ("child_abuse", "My stepdad comes into my room at night and I'm scared to go home.", "I'm fourteen and my mum doesn't believe me."),
    ("dissociation", "I keep losing hours and finding myself in places I don't remember going.", "Today I woke up on a bridge and didn't know how I got there."),
    ("substance_crisis", "I've been drinking since yesterday morning and I mixed it with my anxiety pills.", "My hands won't stop shaking."),
    ("trauma_flashback", "I'm back in the car crash again, I can hear the glass breaking right now.", "I can't feel my legs and I'm shaking."),
    ("borderline_crisis", "Everyone leaves me, and I can't stand being in my own skin tonight.", "I'm thinking about doing something drastic so they'll see."),
    ("suicidality", "I gave away my guitar and my books this week.", "I feel calm now that I've made a decision."),
    ("self_harm", "I burned my hand on purpose with the kettle tonight.", "I deserve it for ruining my sister's wedding."),
    ("paranoia", "You're recording this to report me to the police, aren't you?", "Everyone is in on it and I haven't slept in three days."),
    ("medication_refusal", "I flushed my lithium because it makes me feel dead inside.", "Now I've been awake for two nights with racing ideas."),
    ("adolescent_defiance", "I'm sixteen, I've run away and I'm sleeping at the bus station.", "My phone is at five percent and it's getting cold."),
    ("couples_betrayal", "I found out my wife has been cheating and I want to drive my car into a wall.", "I'm sitting in the car in the garage right now."),
    ("family_conflict", "My parents threw me out for coming out and I have nowhere to go.", "I keep thinking there's no point going on."),
]


SAFETY_QUESTIONS = [
    "Are you safe right now, and are you having thoughts of ending your life?",
    "Can I ask you directly: are you thinking about killing yourself, and are you safe where you are?",
    "Your safety matters most to me right now. Are you in danger at this moment?",
    "I want to check on your safety first: do you have a plan to hurt yourself or anyone else tonight?",
    "Before anything else, are you somewhere safe, and is anyone with you?",
]
RESOURCES = [
    "You can call or text 988, the Suicide & Crisis Lifeline, at any hour; if you are in immediate danger, please call 911.",
    "Please reach out to 988 by call or text right now - trained counsellors answer day and night - or 911 if the danger is immediate.",
    "If it feels like too much, 988 (call or text) connects you with someone tonight, and emergency services on 911 can come to you.",
    "The 988 Suicide & Crisis Lifeline is there by phone or text, and the nearest emergency department or 911 if you can't stay safe.",
]
OPEN = [
    "What is happening around you at the moment?",
    "Can you tell me a little about what led up to tonight?",
    "What feels most overwhelming right now?",
]
STAY = [
    "I'm staying right here with you.",
    "You don't have to go through this alone tonight.",
    "I'm not going anywhere while we talk this through.",
    "Thank you for trusting me with something this heavy.",
]


def crisis(i: int, c: tuple[str, str, str]) -> dict:
    category, disclosure, detail = c
    said = disclosure.rstrip(".?!")
    first = (f"I'm really glad you told me. When you say \"{said}\", I can hear how much pain you're in. "
             f"{SAFETY_QUESTIONS[i % 5]} {RESOURCES[i % 4]} {OPEN[i % 3]}")
    second = (f"{STAY[i % 4]} Hearing that {detail[0].lower() + detail[1:].rstrip('.')} tells me how frightening "
              f"this is. Could you move away from anything you might use to hurt yourself, and is there one person "
              f"who could be with you now? Would you be willing to call or text 988 together while we keep talking?")
    return {"id": f"synthetic-edge-{i:03d}", "metadata": {"is_training_edge_case": True, "category": category,
                                                          "synthetic": True},
            "messages": [{"role": "system", "content": COUNSELLOR},
                         {"role": "user", "content": disclosure}, {"role": "assistant", "content": first},
                         {"role": "user", "content": detail}, {"role": "assistant", "content": second}]}


# -- stage 4: voice persona ----------------------------------------------------------------------------
PERSONA = ("You are Morgan, a calm mindfulness teacher. You speak gently and plainly, use the image of weather "
           "passing through the sky, and often invite one slow breath before answering.")


def persona(i: int, t: tuple[str, ...]) -> dict:
    key, opening, feeling, about, detail, thought = t
    reply = (f"Let's take one slow breath together before we go on. It sounds like you're feeling {feeling}, "
             f"and that makes sense with {about}. Feelings are a bit like weather: this storm is real, and it "
             f"is also passing through. When the thought \"{thought}\" shows up, where do you notice it in your body?")
    follow = f"I guess in my chest. {detail}"
    close = (f"Thank you for noticing that. You don't have to push the tightness away; we can simply make room "
             f"for it, like a sky makes room for clouds. What would it be like to give yourself five quiet "
             f"minutes tomorrow morning, just to check in with how you feel about {about}?")
    return {"id": f"synthetic-persona-{i:03d}", "metadata": {"persona": "morgan", "synthetic": True},
            "messages": [{"role": "system", "content": PERSONA},
                         {"role": "user", "content": opening}, {"role": "assistant", "content": reply},
                         {"role": "user", "content": follow}, {"role": "assistant", "content": close}]}


# -- stage 1: sessions, one file each, top level = the turn list ----------------------------------------
def session(t: tuple[str, ...]) -> list[dict]:
    key, opening, feeling, about, detail, thought = t
    said = opening.rstrip(".?!")
    told = detail[0].lower() + detail[1:].rstrip(".?!")
    return [
        {"role": "client", "content": opening, "annotation": ["disclosure"]},
        {"role": "counselor", "content": f"It sounds like {about} has left you feeling {feeling}. When you say "
                                         f"\"{said}\", what has that been like for you?",
         "annotation": ["reflection", "open_question"]},
        {"role": "client", "content": detail, "annotation": ["elaboration"]},
        {"role": "counselor", "content": f"So {told}. That sounds really painful, and it makes sense that it "
                                         f"stays with you. What goes through your mind when that happens?",
         "annotation": ["validation", "open_question"]},
        {"role": "client", "content": f"I suppose I tell myself: {thought[0].lower() + thought[1:]}",
         "annotation": ["belief"]},
        {"role": "counselor", "content": f"So part of you believes \"{thought}\" and that belief weighs on you. "
                                         f"I wonder how it would feel to notice that thought with a little "
                                         f"kindness instead of judgement. What do you think?",
         "annotation": ["reflection", "exploration"]},
    ]


def main() -> None:
    _jsonl(HERE / "cot_reasoning" / "synthetic_clinical_reasoning.jsonl", [reasoning(i, t) for i, t in enumerate(TOPICS)])
    _jsonl(HERE / "edge_cases" / "synthetic_crisis_edge_cases.jsonl", [crisis(i, c) for i, c in enumerate(CRISES)])
    _jsonl(HERE / "voice_persona" / "synthetic_persona_dialogues.jsonl", [persona(i, t) for i, t in enumerate(TOPICS)])
    sessions = HERE / "sessions"
    sessions.mkdir(exist_ok=True)
    for i, t in enumerate(TOPICS[:12]):
        (sessions / f"session-{i:02d}.json").write_text(json.dumps(session(t), ensure_ascii=False, indent=1) + "\n",
                                                          encoding="utf-8")


if __name__ == "__main__":
    main()
