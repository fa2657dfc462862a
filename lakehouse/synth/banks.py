"""Word lists and sentence templates of the synthetic therapy conversations (no real people)."""

from __future__ import annotations

_NAMES_TEXT = (
    "Aaliyah Abel Ada Adrian Aiko Alba Alexei Alma Amara Amir Anouk Ansel Anya Arjun Astrid Aurora Bao Beatriz "
    "Bilal Bjorn Blessing Bodhi Bruno Caio Callum Camille Carmen Cass Cedric Chidi Chloe Cyrus Dalia Damir Dario "
    "Delphine Devi Diego Dmitri Eamon Ebony Eero Elif Elio Elsa Emeka Enzo Esme Ezra Farah Felix Femi Fiona Freya "
    "Gael Gemma Gideon Greta Hana Hamza Hanne Harlow Hugo Ibrahim Ida Ilse Imani Ines Ingrid Iris Isak Ivo Jade "
    "Jalen Jana Jasper Jonah Joon Jordan Juno Kai Kalani Kamal Karin Kavya Keanu Kenji Kira Lale Lars Leila Lena "
    "Levi Lila Linus Lorenzo Luca Lucia Lyra Mads Maeve Malik Mara Marek Mateo Maya Mei Mika Milo Mira Nadia Naveen "
    "Nell Niamh Nico Nina Noor Odette Olek Omar Orla Oskar Paloma Petra Priya Quinn Rafael Rania Ravi Remy Rhea "
    "Rohan Rosa Rumi Sabine Sacha Sami Sanna Selin Seren Silas Sofia Soren Suki Tala Tariq Teo Thea Tobias Uma "
    "Valen Vera Viggo Wren Xavi Yara Yusuf Zadie Zara Zeno Zofia"
)
NAMES = tuple(_NAMES_TEXT.split())

RELATIONS = (
    "mother", "father", "sister", "brother", "partner", "husband", "wife", "boyfriend", "girlfriend", "boss",
    "coworker", "roommate", "best friend", "son", "daughter", "grandmother", "grandfather", "aunt", "uncle",
    "neighbor", "teacher", "coach", "stepmother", "stepfather", "cousin", "manager", "flatmate", "ex", "mentor",
    "landlord", "classmate", "supervisor", "godmother", "twin", "fiancee", "fiance",
)

FEELINGS = (
    "anxious", "overwhelmed", "exhausted", "numb", "irritable", "lonely", "hopeless", "restless", "ashamed",
    "guilty", "frustrated", "tense", "sad", "empty", "jittery", "on edge", "drained", "panicky", "worthless",
    "disconnected", "bitter", "resentful", "scared", "heavy", "stuck", "flat", "burned out", "invisible",
    "embarrassed", "jealous", "helpless", "confused", "worried", "wired", "foggy", "raw", "defeated", "uneasy",
    "tearful", "detached", "shaky", "grumpy", "insecure", "homesick", "nervous", "torn", "unmotivated", "hollow",
)

EVENTS = (
    "losing my job", "moving to a new city", "the breakup", "my exams", "starting a new role", "my divorce",
    "the miscarriage", "my dad's surgery", "the car accident", "our move overseas", "my promotion",
    "the layoffs at work", "my grandmother's funeral", "the wedding", "having the baby", "my diagnosis",
    "failing my driving test", "the argument at Christmas", "my friend moving away", "the flood in our building",
    "coming out to my family", "retiring", "my first semester", "the custody hearing", "the burglary",
    "my knee injury", "the pandemic", "the fight with my sister", "losing our dog", "the eviction notice",
    "my thesis defense", "the restructuring", "my brother's arrest", "the holidays", "quitting drinking",
    "the IVF rounds", "my panic attack on the train", "the audit", "switching medication", "our anniversary",
)

PLACES = (
    "at work", "at home", "in class", "on the bus", "at night", "at the gym", "in meetings", "at the supermarket",
    "in the car", "at family dinners", "on weekends", "in the mornings", "at parties", "in the office kitchen",
    "at the doctor's office", "on video calls", "in crowded places", "at my parents' house", "in bed",
    "at the school gate", "in lectures", "on the train", "during lunch breaks", "at church", "in the shower",
    "at the pharmacy", "at football practice", "on the phone", "in the waiting room", "at the bank",
)

TIMES = (
    "for about two weeks", "since last spring", "for months now", "since the new year", "for a few days",
    "since I was a teenager", "on and off for years", "since the summer", "for the past month", "since October",
    "almost every day", "since my birthday", "for three weeks", "since the move", "since last winter",
    "for ages", "this whole semester", "since the start of the project", "for the last six weeks",
    "since my last appointment", "for most of this year", "since February", "for a couple of months",
)

SYMPTOMS = (
    "my chest gets tight", "I can't sleep", "my stomach hurts", "my hands shake", "I can't concentrate",
    "my heart races", "I get headaches", "I forget things", "I can't stop crying", "I feel dizzy",
    "I snap at people", "I lose my appetite", "I eat too much", "my jaw is clenched", "I feel sick",
    "I start sweating", "my mind goes blank", "I freeze up", "I can't breathe properly", "I zone out",
    "I grind my teeth", "my shoulders ache", "I pace around", "I bite my nails", "I overthink everything",
    "I cancel plans", "I stay in bed", "I avoid my phone", "I scroll for hours", "I check the locks again",
)

ACTIVITIES = (
    "walking", "journaling", "painting", "running", "cooking", "gaming", "reading", "swimming", "gardening",
    "playing guitar", "knitting", "cycling", "baking", "hiking", "yoga", "dancing", "photography", "singing",
    "climbing", "woodworking", "writing poetry", "birdwatching", "skating", "chess", "pottery", "sewing",
    "volunteering", "fishing", "drawing comics", "learning Spanish", "playing piano", "rowing", "tennis",
)

THOUGHTS = (
    "I'm not good enough", "everyone is judging me", "I'm a burden", "something bad will happen",
    "I always mess things up", "nobody really cares", "I should be further along", "I'm going to fail",
    "people will leave me", "I can't trust anyone", "I don't deserve help", "I'm too much for people",
    "it's all my fault", "I'll never change", "I'm wasting my life", "they are laughing at me",
    "I have to be perfect", "I'm falling behind everyone", "I'm broken", "I'm letting everyone down",
    "if I relax it will fall apart", "I'm faking it", "I'll be alone forever", "I'm weak for struggling",
)

STRATEGIES = (
    "box breathing", "a grounding exercise", "a thought record", "progressive muscle relaxation",
    "a short walk outside", "the five senses exercise", "scheduling worry time", "a body scan",
    "writing a compassionate letter to yourself", "behavioral activation", "a sleep diary",
    "paced breathing", "naming the emotion out loud", "an opposite action plan", "a values check-in",
    "urge surfing", "a gratitude list", "cold water on your face", "a safety plan", "a mood tracker",
    "setting one tiny goal", "a worry tree", "reality testing the thought", "self-compassion breaks",
)

STEPS = (
    "send one text to a friend", "go to bed at the same time", "eat one proper meal", "step outside for ten minutes",
    "tell your manager", "book a doctor's appointment", "write down three worries", "say no to one request",
    "put your phone in another room", "call your sister", "take a proper lunch break", "open that email",
    "pack your gym bag", "plan something small to look forward to", "ask for an extension",
    "spend five minutes tidying", "drink a glass of water first thing", "go to the library", "join the club",
)

OBJECTS = (
    "the unopened letters", "my old sketchbook", "the kitchen table", "a pile of laundry", "my running shoes",
    "the group chat", "my calendar", "the spare room", "a photo of us", "my inbox", "the piano", "my bike",
    "the medication box", "the dog's lead", "my work laptop", "the notebook you suggested", "the balcony plants",
)

ADJECTIVES = (
    "awkward", "pointless", "forced", "silly", "helpful", "strange", "calming", "exhausting", "hard",
    "impossible", "uncomfortable", "easier than expected", "chaotic", "brutal", "quiet", "tense", "unfair",
    "relentless", "messy", "hectic", "lonely", "confusing", "boring", "intense",
)

WORK_ISSUES = (
    "my manager keeps changing deadlines", "we lost two people on the team", "I got moved to night shifts",
    "a client complained about me", "I'm covering for a colleague", "my contract might not be renewed",
    "the new system keeps crashing", "I was passed over for the role", "there is a review next month",
    "nobody answers my questions", "I'm doing two jobs at once", "the commute doubled",
)

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "weekend", "night", "week")

NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "ten", "twelve", "fifteen", "twenty")

USER_TEMPLATES = (
    "Hi, I'm {name}. I've been feeling {feel} {time} and I don't really know why.",
    "Lately {symptom}, especially {place}.",
    "It started after {event}, and since then I keep thinking {thought}.",
    "My {rel} {person} says I should try {activity} again, but I can't find the energy.",
    "I used to love {activity}, and now it feels {adj}.",
    "Every time I sit down to look at {object}, {symptom}.",
    "Last {day} I stayed up until {num} in the morning because {symptom2}.",
    "I feel {feel} whenever my {rel} brings up {event}.",
    "Honestly I'm {feel} and {feel2} at the same time, which makes no sense to me.",
    "I tried {strategy} once but it felt {adj}.",
    "Work has been {adj} because {work}.",
    "I sleep maybe {num} hours a night and wake up {feel}.",
    "Sometimes I wonder whether {thought} is actually true.",
    "{person} doesn't know how {feel} I get {place}.",
    "When I'm {place} I notice that {symptom}.",
    "Part of me believes {thought}, and part of me knows that isn't fair.",
    "I haven't told my {rel} about {event} yet.",
    "It's been {num} weeks since I went {activity}.",
    "I keep staring at {object} and feeling {feel}.",
    "My {rel} and I argued about {event} and I still feel {feel}.",
    "I think the worst part is {place}, when {symptom}.",
    "I'm scared that {person} will find out I've been {feel}.",
    "After {event} I stopped going {place2} altogether.",
    "Even {activity} doesn't help the way it used to.",
    "The {day} before last was {adj}, and I barely got through it.",
    "I can't explain it, I just feel {feel} {time}.",
    "Maybe I could {step}, I'm not sure.",
    "Thanks, {strategy} sounds {adj} but I can give it a go.",
)

ASSISTANT_TEMPLATES = (
    "Thank you for telling me this, {name}.",
    "It sounds like you've been carrying a lot {time}.",
    "Feeling {feel} after {event} is a very understandable reaction.",
    "When you notice that {symptom}, what goes through your mind?",
    "Could we try {strategy} together for a moment?",
    "I'm hearing that being {place} is especially hard for you right now.",
    "What would it look like to {step} this week?",
    "How does your {rel} usually respond when you share how {feel} you feel?",
    "That thought, that {thought}, sounds really painful to live with.",
    "You mentioned {activity}; is there a small version of it you could try on {day}?",
    "It makes sense that {object} feels heavy after everything with {event}.",
    "Many people describe feeling {feel} and {feel2} together, so you're not alone in that.",
    "Let's slow down and notice what happens in your body when {symptom}.",
    "What evidence do you have for and against the idea that {thought}?",
    "I wonder if {strategy} might take some of the edge off {place}.",
    "On a scale from one to ten, how {feel} would you say you feel {place}?",
    "You've already shown courage by talking about {event}.",
    "It might help to share a little of this with {person} when you feel ready.",
    "Sleep and mood affect each other a lot, so {num} hours a night matters.",
    "If you ever feel unsafe, please contact a crisis line or someone you trust straight away.",
    "What has helped you before, even a little, when {symptom}?",
    "Work stress like {work} can wear anyone down.",
    "We could plan one gentle step, like to {step}, and see how it feels.",
    "It sounds like part of you is {feel} and part of you wants things to change.",
    "Before our next chat, would you be open to trying {strategy} once a day?",
    "I noticed you said {adj}; can you tell me more about that?",
)

SYSTEM_PROMPTS = (
    "You are a compassionate, evidence-based mental health support assistant. Listen carefully, reflect the "
    "person's feelings, ask open questions, offer practical coping strategies from cognitive behavioral therapy "
    "and acceptance and commitment therapy, never diagnose, and always point to emergency services and crisis "
    "lines when there is any risk of harm.",
    "You are a warm and patient therapeutic companion. Use reflective listening, validate emotions, keep a calm "
    "tone, suggest small manageable steps, respect the person's autonomy, avoid medical advice, and encourage "
    "professional help and crisis resources whenever safety is a concern.",
    "You are a supportive counseling assistant trained in motivational interviewing and dialectical behavior "
    "therapy skills. Be non-judgmental, curious and gentle, summarize what you hear, explore ambivalence, teach "
    "distress tolerance skills, and escalate to emergency resources if the person may be in danger.",
)

SLOT_BANKS = {
    "name": NAMES,
    "person": NAMES,
    "rel": RELATIONS,
    "feel": FEELINGS,
    "feel2": FEELINGS,
    "event": EVENTS,
    "place": PLACES,
    "place2": PLACES,
    "time": TIMES,
    "symptom": SYMPTOMS,
    "symptom2": SYMPTOMS,
    "activity": ACTIVITIES,
    "thought": THOUGHTS,
    "strategy": STRATEGIES,
    "step": STEPS,
    "object": OBJECTS,
    "adj": ADJECTIVES,
    "work": WORK_ISSUES,
    "day": DAYS,
    "num": NUMBERS,
}

# Words used for insertions/substitutions when planting near duplicates.
EDIT_WORDS = tuple(
    sorted(
        {
            w.strip(",.;").lower()
            for bank in (FEELINGS, ACTIVITIES, ADJECTIVES, EVENTS, PLACES, SYMPTOMS)
            for phrase in bank
            for w in phrase.split()
            if len(w) > 3
        }
        | set("really very just actually maybe honestly basically kind of sort quite truly".split())
    )
)
