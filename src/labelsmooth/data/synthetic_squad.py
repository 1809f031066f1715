"""A deterministic SQuAD-2.0-format generator: company profiles with answerable and unanswerable questions.

A paragraph profiles one to three firms (founder, founding year, city, product, staff, chief executive),
with filler sentences full of other people, cities, years and numbers. Every question names a firm or a
person of its own paragraph; an unanswerable one asks for a fact the paragraph leaves out for that firm
(often stated for another firm beside it) or swaps the person, so it cannot be spotted from the question.
Gold answers come as annotators give them: the value, plus variants with their surrounding words
("the city of Lyon", "4,210 people") or a second mention of the same person.
"""

from __future__ import annotations

import random
import string
from dataclasses import asdict, dataclass

# Bump when generate_squad's output changes, so cached files are rewritten.
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class Knobs:
    """Difficulty knobs of the synthetic SQuAD data; the one place their defaults are written.

    conf/data/squad_synthetic.yaml repeats them as config keys (Hydra needs a key to exist to override
    it); tests/test_data_config.py checks that the two agree.
    """

    unanswerable: float = 0.35  # share of each firm's facts left out (those questions have no answer)
    distractors: float = 0.5  # chance of each of up to two more firms per paragraph
    filler: int = 3  # sentences about other people, places, years and numbers
    coreference: float = 0.3  # chance that a later sentence says "it" / "the company" for the firm

    def __post_init__(self) -> None:
        for key in ("unanswerable", "distractors", "coreference"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"data.{key}={value}: expected a value in [0, 1]")
        if self.filler < 0:
            raise ValueError(f"data.filler={self.filler}: expected a count >= 0")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _words(text: str) -> list[str]:
    """Names written as one space-separated string (compact, and one edit adds a name)."""
    return text.split()


FIRST = _words(
    "Anna Boris Carla David Elena Farid Greta Hugo Ines Jonas Karin Luca Maya Nils Olga Pavel Rosa Sami "
    "Tanja Victor Wanda Yusuf Zora Ilya Marta Oskar Lena Tomas Vera Emil"
)
LAST = _words(
    "Berg Costa Dahl Engel Fischer Gruber Holm Ivanov Jansen Kovac Lind Moreau Novak Ortiz Petrov Quist "
    "Rossi Sato Tamm Urban Vidal Weber Aalto Brandt Ferro Hart Kaur Lopez Meyer Nagy"
)
STEM = _words(
    "Alder Borea Cresta Dunmore Elvar Fjord Granite Helix Ironwood Juniper Kestrel Lumen Meridian Northway "
    "Orbis Pinecrest Quarry Redwater Solace Tidewell Umbra Vantor Westmark Yarrow Zephyr"
)
KIND = _words("Systems Foods Motors Labs Textiles Energy Logistics Media Pharma Steel")
CITY = _words(
    "Lisbon Tallinn Porto Graz Bergen Lyon Krakow Malmo Turin Utrecht Gdansk Ghent Brno Aarhus Split "
    "Bilbao Riga Tartu Basel Leeds Cork Seville Dresden Linz"
)
PRODUCT = [
    "bicycles",
    "solar panels",
    "frozen pizza",
    "wool coats",
    "trucks",
    "vaccines",
    "steel beams",
    "radio shows",
    "accounting software",
    "batteries",
    "ferries",
    "green tea",
    "garden tools",
    "wind turbines",
]

FACTS = ("founder", "year", "city", "product", "staff", "ceo")

# `{F}` is the firm (or, under coreference, "it" / "the company"); each template states one fact.
FACT_TEMPLATES = {
    "founder": [
        "{F} was founded by {founder}.",
        "{founder} started {F}.",
        "{founder} set up {F} with a loan.",
    ],
    "year": ["{F} was founded in {year}.", "{F} dates back to {year}.", "{F} opened its doors in {year}."],
    "city": [
        "{F} is based in the city of {city}.",
        "The head office of {F} is in {city}.",
        "{F} has its headquarters in the city of {city}.",
    ],
    "product": ["{F} makes {product}.", "{F} is best known for its {product}.", "{F} sells {product}."],
    "staff": ["{F} employs {staff} people.", "Some {staff} people work for {F}.", "{F} has {staff} staff."],
    "ceo": ["{F} is led by {ceo}.", "{ceo} runs {F} today.", "Since {since}, {F} has been run by {ceo}."],
}
# Longer golds annotators also mark: (words before, words after) the value, when the text has them.
VARIANTS = {
    "city": [("the city of ", "")],
    "product": [("its ", "")],
    "staff": [("", " people")],
    "year": [("in ", "")],
}
# A later sentence mentioning the founder or chief executive again: a second gold for "Who ...?".
PERSON_AGAIN = [
    "{p} grew up in {place}.",
    "{p} studied law in {place}.",
    "{p} often speaks at events in {place}.",
]
FILLER = [
    "{place} has about {number} inhabitants.",
    "In {year}, a new rail line reached {place}.",
    "The mayor of {place}, {p}, opened a trade fair there in {year}.",
    "{p} wrote a history of the region in {year}.",
    "Prices for {product} rose sharply in {year}.",
    "A local paper once called the sector crowded.",
    "About {number} visitors came to the {year} fair in {place}.",
]
QUESTIONS = {
    "founder": ["Who founded {F}?", "Who started {F}?", "Who is the founder of {F}?"],
    "year": ["When was {F} founded?", "In which year did {F} start?", "What year was {F} established?"],
    "city": [
        "Where is {F} based?",
        "In which city is {F} headquartered?",
        "Where is the head office of {F}?",
    ],
    "product": ["What does {F} make?", "What is {F} known for?", "What does {F} produce?"],
    "staff": [
        "How many people work for {F}?",
        "How many employees does {F} have?",
        "How big is {F}'s staff?",
    ],
    "ceo": ["Who leads {F}?", "Who runs {F}?", "Who is the chief executive of {F}?"],
}
# Person -> firm questions: answerable for the firm's founder / chief executive, unanswerable when the
# person is swapped for someone in the paragraph who did not found / does not run a firm.
REVERSE = {
    "founder": ["Which company did {p} found?", "Which firm was set up by {p}?"],
    "ceo": ["Which company does {p} run?", "Which firm is led by {p}?"],
}


def _render(template: str, values: dict[str, str]) -> tuple[str, dict[str, int]]:
    """The filled template and the character offset of every field in it."""
    text, starts = "", {}
    for literal, name, _, _ in string.Formatter().parse(template):
        text += literal
        if name is not None:
            starts[name] = len(text)
            text += values[name]
    return text, starts


def _refer(firm: str, template: str, rng: random.Random, coreference: float, first: bool) -> str:
    """How a sentence names its firm: by name, or (not in its first sentence) as "it" / "the company"."""
    if first or rng.random() >= coreference:
        return firm
    if template.startswith("{F}"):
        return rng.choice(["It", "The company"])
    return "the company"


def _paragraph(
    rng: random.Random, name: str, unanswerable: float, distractors: float, filler: int, coreference: float
) -> tuple[dict, str]:
    """One paragraph dict (context + qas) and its lead firm (the article title)."""
    n_firms = 1 + sum(rng.random() < distractors for _ in range(2))
    firms = [f"{stem} {rng.choice(KIND)}" for stem in rng.sample(STEM, n_firms)]
    n_names = min(2 * n_firms + filler, len(FIRST) * len(LAST))
    people = [
        f"{FIRST[i // len(LAST)]} {LAST[i % len(LAST)]}"
        for i in rng.sample(range(len(FIRST) * len(LAST)), n_names)
    ]
    places = rng.sample(CITY, min(2 * n_firms + filler, len(CITY)))

    # Sentences as (text, value offset, firm offset, firm index, fact key); filler has no firm and no key.
    groups: list[list[tuple[str, int | None, int | None, int | None, str | None]]] = []
    facts_of, stated_of = [], []
    for f, firm in enumerate(firms):
        facts = {
            "founder": people[2 * f],
            "year": str(rng.randint(1890, 2015)),
            "city": places[2 * f],
            "product": rng.choice(PRODUCT),
            "staff": f"{rng.randint(12, 9800):,}",
            "ceo": people[2 * f + 1],
            "since": str(rng.randint(1990, 2024)),
        }
        # at least one fact is stated, so every firm a question names is in the text
        stated = [k for k in FACTS if rng.random() >= unanswerable] or [rng.choice(FACTS)]
        rng.shuffle(stated)
        group = []
        for i, key in enumerate(stated):
            template = rng.choice(FACT_TEMPLATES[key])
            ref = _refer(firm, template, rng, coreference, first=i == 0)
            text, at = _render(template, facts | {"F": ref})
            group.append((text, at[key], at["F"] if ref == firm else None, f, key))
            if key in ("founder", "ceo") and rng.random() < 0.4:
                again = {"p": facts[key], "place": rng.choice([c for c in places if c != facts["city"]])}
                text, at = _render(rng.choice(PERSON_AGAIN), again)
                group.append((text, at["p"], None, f, key))
        groups.append(group)
        facts_of.append(facts)
        stated_of.append(set(stated))
    for j in range(filler):  # between firm groups, never inside one, so "it" always means the group's firm
        values = {
            "place": places[(2 * n_firms + j) % len(places)],
            "p": people[(2 * n_firms + j) % len(people)],
            "year": str(rng.randint(1890, 2024)),
            "number": f"{rng.randint(200, 90000):,}",
            "product": rng.choice(PRODUCT),
        }
        text, _ = _render(rng.choice(FILLER), values)
        groups.insert(rng.randint(0, len(groups)), [(text, None, None, None, None)])

    # The context, with every stated value's and every firm name's character offsets.
    context, values_at, names_at = "", {}, {}
    for group in groups:
        for text, value, firm_at, f, key in group:
            if key is not None:
                values_at.setdefault((f, key), []).append(len(context) + value)
            if firm_at is not None:
                names_at.setdefault(f, []).append((key, len(context) + firm_at))
            context += text + " "
    context = context.rstrip()

    def golds(f: int, key: str) -> list[dict]:
        """The value at each mention, plus the longer variants the text supports."""
        value, out = facts_of[f][key], []
        for start in values_at[(f, key)]:
            out.append({"text": value, "answer_start": start})
            for before, after in VARIANTS.get(key, []):
                s, e = start - len(before), start + len(value) + len(after)
                if s >= 0 and context[s:e] == before + value + after:
                    out.append({"text": context[s:e], "answer_start": s})
        return out

    def firm_golds(f: int, key: str) -> list[dict]:
        """The firm's name in the sentence stating `key` (if named there), and its first mention."""
        starts = [s for k, s in names_at[f] if k == key] + [names_at[f][0][1]]
        return [{"text": firms[f], "answer_start": s} for s in dict.fromkeys(starts)]

    qas: list[tuple[str, list[dict]]] = []
    for f, firm in enumerate(firms):
        for key in FACTS:  # every fact is asked about: stated ones are answerable, left-out ones are not
            answers = golds(f, key) if key in stated_of[f] else []
            qas.append((rng.choice(QUESTIONS[key]).format(F=firm), answers))
    for key, other in (("founder", "ceo"), ("ceo", "founder")):
        holders = {facts_of[f][key]: f for f in range(n_firms) if key in stated_of[f]}
        for person, f in holders.items():
            if rng.random() < 0.5:
                qas.append((rng.choice(REVERSE[key]).format(p=person), firm_golds(f, key)))
        # someone the paragraph names in the other role, asked about this one: unanswerable
        swapped = [facts_of[f][other] for f in range(n_firms) if other in stated_of[f]]
        swapped = [p for p in swapped if p not in holders]
        if swapped and rng.random() < 0.5:
            qas.append((rng.choice(REVERSE[key]).format(p=rng.choice(swapped)), []))
    rng.shuffle(qas)
    items = [
        {"id": f"{name}-q{i:02d}", "question": q, "answers": a, "is_impossible": not a}
        for i, (q, a) in enumerate(qas)
    ]
    return {"context": context, "qas": items}, firms[0]


def generate_squad(
    n_paragraphs: int,
    seed: int,
    unanswerable: float = Knobs.unanswerable,
    distractors: float = Knobs.distractors,
    filler: int = Knobs.filler,
    coreference: float = Knobs.coreference,
) -> dict:
    """A SQuAD 2.0 dataset dict of `n_paragraphs` paragraphs; the same arguments give the same data.

    The knobs are those of `Knobs` (every fact is asked about, so about `unanswerable` of the fact
    questions have no answer).
    """
    Knobs(unanswerable, distractors, filler, coreference)  # validates the ranges
    rng = random.Random(seed)
    data = []
    for i in range(n_paragraphs):
        paragraph, title = _paragraph(rng, f"s{seed}p{i:05d}", unanswerable, distractors, filler, coreference)
        data.append({"title": title, "paragraphs": [paragraph]})
    return {"version": "v2.0", "data": data}
