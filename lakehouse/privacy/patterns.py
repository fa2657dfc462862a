"""Regexes of the project's own recognizers (pure: no presidio/spaCy import).

Each builder returns regex source compiled WITHOUT re.IGNORECASE: case is part of the signal
("May 3" is a date, "may 3" is usually not; "a 30 minute Walk" vs "30 Oak Walk").
A named group ``pii`` marks the redacted part when the match includes a cue ("my therapist Sarah").
"""

from __future__ import annotations

import re
from typing import Iterable

_MONTHS = (
    ("January", "Jan"), ("February", "Feb"), ("March", "Mar"), ("April", "Apr"), ("May", None),
    ("June", "Jun"), ("July", "Jul"), ("August", "Aug"), ("September", "Sept|Sep"), ("October", "Oct"),
    ("November", "Nov"), ("December", "Dec"),
)
# Capitalised words that follow "my friend"/"Dr." but are not names.
NOT_NAMES = (
    "I", "I'm", "I've", "I'd", "I'll", "The", "A", "An", "And", "But", "So", "Then", "When", "If", "It", "He",
    "She", "They", "We", "You", "My", "His", "Her", "Their", "Our", "This", "That", "Yesterday", "Today",
    "Tonight", "Tomorrow", "Last", "Next", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday", "Sunday", "Christmas", "Thanksgiving", "Easter", "Because", "Anyway", "Also", "Oh", "Ok",
    "Okay", "Yes", "No", "Not", "Who", "What", "Why", "How", "Where", "Is", "Was", "Said", "Says", "Told",
    "Everyone", "Everybody", "Someone", "Somebody", "Nobody", "Noone", "People", "Nothing", "Everything",
    "Doctors", "Nurses", "Therapists", "There", "Here", "Please", "Thanks", "Thank", "Maybe", "Sometimes",
    "Now", "Just", "Well", "Still", "Even", "Only", "Again", "Me", "Him", "Them", "Us", "Hi", "Hello", "Hey",
    "Dear", "English", "Spanish", "God", "Jesus", "Lord", "Mom", "Dad", "Mum", "Mother", "Father",
    "Sister", "Brother", "Grandma", "Grandpa", "Google", "Facebook", "Instagram", "Reddit", "Twitter",
    "TikTok", "Snapchat", "Discord", "Netflix", "YouTube", "Zoom", "Depression", "Anxiety", "Therapy",
    "Trauma", "Grief", "Fear", "Shame", "Guilt", "Anger", "Love", "Life", "Panic", "Addiction", "Stress",
    "Research", "Science", "Society", "Everyone's", "Somebody's",
)
HONORIFICS = ("Dr", "Mr", "Mrs", "Ms", "Mx", "Prof", "Miss", "Doctor")


def _alt(words: Iterable[str]) -> str:
    """Alternation of literal words, longest first (so 'Street' wins over 'St')."""
    uniq = sorted({w for w in words if w}, key=lambda w: (-len(w), w))
    return "|".join(re.escape(w) for w in uniq)


def _month_alt() -> str:
    parts: list[str] = []
    for full, abbr in _MONTHS:
        if full == "May":
            parts.append("May")  # lowercase "may" is the verb
            continue
        parts.append(f"[{full[0]}{full[0].lower()}]{full[1:]}")
        if abbr:
            parts.extend(f"(?:{a})\\.?" for a in abbr.split("|"))
    return "|".join(parts)


def month_date_regexes() -> list[str]:
    """Dates written with a month name: 'March 3rd, 2021', '3 March 2021', 'Jan 5', 'March 2021'."""
    month = f"(?:{_month_alt()})"
    day = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
    year = r"(?:1[89]\d\d|20\d\d)"
    return [
        rf"\b{month}\s+{day}\b(?:,?\s+{year}\b)?",
        rf"\b{day}\s+(?:of\s+)?{month}(?![A-Za-z])(?:,?\s+{year}\b)?",
        rf"\b{month}\s+(?:of\s+)?{year}\b",
    ]


def street_address_regex(suffixes: Iterable[str]) -> str:
    """'123 Main Street', '45 Oak Ave, Springfield', '241 Kevin Lane Suite 824\\nMorganview, TN 47086'."""
    num = r"\d{1,6}[A-Za-z]?(?:-\d{1,4})?"
    direction = r"(?:[NSEW]\.?|North|South|East|West|NE|NW|SE|SW)"
    word = r"(?:[A-Z][A-Za-z'’.-]*|\d{1,3}(?:st|nd|rd|th))"
    secondary = r"(?:,?[ \t]+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Fl\.?|Floor|Room|Rm\.?|#)[ \t]*#?[A-Za-z0-9-]+)?"
    city = r"(?:(?:St|Ft|Mt)\.[ \t]+)?[A-Z][A-Za-z'’-]+(?:[ \t]+[A-Z][A-Za-z'’-]+){0,2}"
    tail = rf"(?:(?:,[ \t]*|[ \t]*\n[ \t]*){city}(?:,?[ \t]+[A-Z]{{2}})?(?:[ \t]+\d{{5}}(?:-\d{{4}})?)?)?"
    return (
        rf"(?<![\w.-]){num}[ \t]+(?:{direction}[ \t]+)?(?:{word}[ \t]+){{1,4}}(?:{_alt(suffixes)})\b\.?"
        rf"{secondary}{tail}"
    )


def po_box_regex() -> str:
    """'PO Box 12', 'PSC 6695, Box 2353 APO AP 20849' (US military mail)."""
    return (r"\b(?:[Pp]\.?[ \t]?[Oo]\.?|PSC|CMR|Unit|unit)[ \t]+(?:\d{1,6},?[ \t]+[Bb]ox|[Bb]ox)[ \t]+\d{1,6}\b"
            r"(?:\s+(?:APO|FPO|DPO|apo|fpo|dpo)[ \t]+(?:AA|AE|AP|aa|ae|ap)[ \t]+\d{5})?")


def unit_regex() -> str:
    """A dwelling unit on its own: 'Apt. 297', 'Suite 464', 'apartment 4B'."""
    return r"\b(?:[Aa]pt\.?|[Aa]partment|[Ss]uite|[Ss]te\.|[Uu]nit)[ \t]*#?[ \t]*\d{1,5}[A-Za-z]?\b"


def uk_postcode_regex() -> str:
    """UK postcodes: 'SW1A 1AA', 'M1 1AE'."""
    return r"\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?)[ \t]?\d[ABD-HJLNP-UW-Z]{2}\b"


def european_street_regex() -> str:
    """Street name then house number, as written across Europe/Latin America:
    'Kiannonkatu 98', 'Ringvej 144', 'Asselsestraat 7', 'Rua Cidade de Maracajá 468', 'ul. Słowicza 10'."""
    suffix = (r"(?:katu|vej|veien|vegen|gate|gata|gatan|vägen|väg|straat|strasse|straße|gasse|weg|laan|"
              r"plein|gracht|utca|tér|út|allee|platz|kade|vei)")
    lead = r"(?:Rua|Rue|Avda\.|Avenida|Av\.|Calle|Carrer|Via|Viale|Strada|Piazza|ul\.|Ulica|Praça|Largo|Travessa)"
    word = rf"[{_UP}](?:[^\W\d_]|['’.-])*"
    return (rf"(?:\b(?:\d{{1,6}}[ \t]+)?{lead}[ \t]+(?:(?:{word}|de|da|do|dos|das|del|di|la|le|des)[ \t]+){{0,5}}"
            rf"|\b(?:\d{{1,6}}[ \t]+)?{word}{suffix}[ \t]+)\d{{1,5}}[A-Za-z]?\b")


def lowercase_address_regex(lower_suffixes: Iterable[str]) -> str:
    """'12 main street' in lowercase chat; the first word may not be a unit or filler ('30 minute walk')."""
    suffixes = list(lower_suffixes)
    stop = _alt(
        ["the", "a", "an", "my", "his", "her", "their", "our", "your", "of", "down", "up", "on", "in", "at",
         "to", "more", "other", "different", "mile", "miles", "minute", "minutes", "hour", "hours", "day",
         "days", "week", "weeks", "month", "months", "year", "years", "time", "times", "block", "blocks",
         "lanes", "pills", "mg", "and", "or", "am", "pm", "km", "feet", "foot", "story", "stories"] + suffixes
    )
    return rf"(?<![\w.-])\d{{1,6}}[ \t]+(?!(?:{stop})\b)[a-z]+(?:[ \t]+[a-z]+)?[ \t]+(?:{_alt(suffixes)})\b\.?"


def nanp_phone_regex() -> str:
    """North-American numbers with separators, optional +1/001 prefix and extension."""
    return (
        r"(?<![\w+])(?:(?:\+?1|001)[ \t.-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.-])\d{3}[ \t.-]\d{4}"
        r"(?:[ \t]?(?:x|ext\.?|extension)[ \t]?\d{1,6})?(?!\w)"
    )


def bare_phone_regex() -> str:
    """Ten digits without separators: only a phone with context words nearby."""
    return r"(?<![\w+.-])(?:\+?1)?\d{10}(?![\w-])"


_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_LOW = rf"(?:(?![{_UP}])[^\W\d_]|['’-])"  # a letter that is not upper case


def _name(min_len: int = 2, all_caps: bool = False) -> str:
    """One or two capitalised words (any Latin script), optionally with a middle initial."""
    not_name = "|".join(re.escape(w) for w in NOT_NAMES)
    word = rf"[{_UP}]{_LOW}{{{min_len - 1},}}"
    if all_caps:
        word = rf"(?:{word}|[{_UP}]{{3,}})"
    token = rf"(?!(?:{not_name})s?\b){word}"
    return rf"{token}(?:[ \t]+[{_UP}]\.?(?=[ \t]))?(?:[ \t]+{token})?"


def bare_phone_cue_regex() -> str:
    """Ten digits right after a phone cue ('call me at 8962176832')."""
    cue = r"(?i:\b(?:call|calls|called|calling|text|texts|texted|reach|phone|number|cell|mobile|contact)\b)"
    return rf"{cue}[^\d\n]{{0,20}}?(?P<pii>(?<![\w+.-])(?:\+?1)?\d{{10}}(?![\w-]))"


CUE_AFTER_WORDS = ("said", "says", "thinks", "thought", "told", "tells", "wants", "wanted", "asked", "asks",
                   "called", "calls", "texted", "texts", "knows", "knew", "yelled", "yells", "cheated")


def cue_after_prefilter() -> str:
    """Cheap test run before the name-then-verb regex (which tries a name at every capital)."""
    return rf"\b(?:{_alt(CUE_AFTER_WORDS)})\b"


def cue_person_regexes() -> list[str]:
    """A capitalised name right after a verb of contact ('I told Mallory', 'with Kimberly'),
    or as the subject of one ('Scott thinks', 'Anna said')."""
    before = _alt(["told", "tell", "telling", "asked", "ask", "called", "call", "calling", "texted", "text",
                   "texting", "emailed", "email", "messaged", "message", "met", "meet", "meeting", "with",
                   "let", "saw", "see", "seeing", "visit", "visited", "visiting", "married", "dating",
                   "dated", "love", "loved", "miss", "missed", "hate", "hated", "trust", "named", "called"])
    after = _alt(CUE_AFTER_WORDS)
    return [
        rf"\b(?i:{before})[ \t]+(?P<pii>{_name(3)})\b",
        rf"(?i:\bname(?:[ \t]+is|'s|:))[ \t]*(?P<pii>{_name(2, all_caps=True)})\b",
        rf"(?P<pii>{_name(3)})[ \t]+(?:{after})\b",
    ]


def location_cue_regex() -> str:
    """A place after 'moved to', 'live in', 'grew up in', 'originally from': 'I moved to Ronniestad'."""
    cue = (r"(?i:\b(?:moved|move|moving|relocated|relocating)(?:[ \t]+back)?[ \t]+to"
           r"|\b(?:moved|move|moving|came|come|comes|originally|i'm|i[ \t]+am|we're|we[ \t]+are)(?:[ \t]+(?:here|over|away))?[ \t]+from"
           r"|\b(?:live|lives|living|lived|grew[ \t]+up|raised|born|stuck|based)[ \t]+in"
           r"|\b(?:flew|fly|flying|drove|drive|driving|trip|travel(?:l?ed|l?ing)?)[ \t]+to"
           r"|\b(?:left|leaving|since[ \t]+you[ \t]+left|back[ \t]+in|back[ \t]+to|visit(?:ed|ing)?))")
    return rf"{cue}[ \t]+(?P<pii>{_name(3, all_caps=True)}(?:[ \t]+[{_UP}][a-z]+)?)\b"


def long_number_regex() -> str:
    """8+ digits, contiguous or in groups ('0688 872 49 99', '+41 (0)96 471 07 95', '2623322164608847'):
    in counselling text such numbers are identifiers (phone, account, card, member, case numbers).
    The digit count is checked by the recognizer (min_digits)."""
    return (r"(?<![\w.,/+-])(?:\+\d{1,3}[ \t.-]?)?(?:\(\d{1,4}\)[ \t.-]?)?\d{2,}(?:[ \t.-]\d{2,}){0,6}"
            r"(?![\w/]|[.,-]\d)")


def account_code_regex() -> str:
    """IBAN-shaped codes, upper case, compact or in groups of four ('GB82 WEST 1234 5698 7654 3',
    'XY12ABCD1234567890'): an account number even when its check digits fail (a typo, a made-up
    or unregistered format); a valid IBAN is found as such by recognizers.IbanFinder. The digit
    count is checked by the recognizer (min_digits)."""
    return (r"(?<![\w])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?:[ \t-][A-Z0-9]{4}){2,7}(?:[ \t-][A-Z0-9]{1,3})?)"
            r"(?![\w])")


def titled_person_regex() -> str:
    """'Dr. Sarah Mitchell', 'Ms. Lee': the name after an honorific."""
    return rf"\b(?:{_alt(HONORIFICS)})\.?[ \t]+(?P<pii>{_name()})"


def relation_person_regex(relation_words: Iterable[str]) -> str:
    """'my therapist Sarah', 'My ex Jake', 'my best friend Anna Lee': the name after a relation."""
    rel = _alt(relation_words).replace(r"\ ", r"[ \t]+")
    mod = r"(?:(?:ex|late|new|old|former|best|older|younger|little|big|step)[- \t]?)?"
    return rf"(?i:\bmy[ \t]+{mod}(?:{rel}))(?:,)?[ \t]+(?P<pii>{_name()})"


PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z_]*_\d+>")
