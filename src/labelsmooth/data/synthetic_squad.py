"""A deterministic SQuAD-2.0-format generator: company profiles, answerable and unanswerable questions.

Unanswerable questions name a firm of their own paragraph and ask for a fact the paragraph states only for
the other firm, or not at all, so they cannot be spotted from the question alone.
"""

from __future__ import annotations

import random

FIRST = [
    "Anna",
    "Boris",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Pavel",
    "Rosa",
    "Sami",
    "Tanja",
    "Victor",
    "Wanda",
    "Yusuf",
    "Zora",
    "Ilya",
]
LAST = [
    "Berg",
    "Costa",
    "Dahl",
    "Engel",
    "Fischer",
    "Gruber",
    "Holm",
    "Ivanov",
    "Jansen",
    "Kovac",
    "Lind",
    "Moreau",
    "Novak",
    "Ortiz",
    "Petrov",
    "Quist",
    "Rossi",
    "Sato",
    "Tamm",
    "Urban",
    "Vidal",
    "Weber",
]
STEM = [
    "Alder",
    "Borea",
    "Cresta",
    "Dunmore",
    "Elvar",
    "Fjord",
    "Granite",
    "Helix",
    "Ironwood",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Northway",
    "Orbis",
    "Pinecrest",
    "Quarry",
    "Redwater",
    "Solace",
    "Tidewell",
]
KIND = ["Systems", "Foods", "Motors", "Labs", "Textiles", "Energy", "Logistics", "Media", "Pharma", "Steel"]
CITY = [
    "Lisbon",
    "Tallinn",
    "Porto",
    "Graz",
    "Bergen",
    "Lyon",
    "Krakow",
    "Malmo",
    "Turin",
    "Utrecht",
    "Gdansk",
    "Ghent",
    "Brno",
    "Aarhus",
    "Split",
    "Bilbao",
    "Riga",
    "Tartu",
    "Basel",
    "Leeds",
]
PRODUCT = [
    "bicycles",
    "solar panels",
    "frozen pizza",
    "wool coats",
    "trucks",
    "vaccines",
    "steel beams",
    "radio shows",
    "software",
    "batteries",
    "ferries",
    "tea",
]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _company(rng: random.Random) -> str:
    return f"{rng.choice(STEM)} {rng.choice(KIND)}"


def _facts(
    rng: random.Random, firm: str, unanswerable: float
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A firm's facts and the sentences stating a random subset of them (the rest stay unanswerable)."""
    facts = {
        "founder": _person(rng),
        "year": str(rng.randint(1890, 2015)),
        "city": rng.choice(CITY),
        "product": rng.choice(PRODUCT),
        "staff": str(rng.randint(12, 9000)),
        "ceo": _person(rng),
    }
    templates = {
        "founder": [f"{firm} was founded by {{founder}}.", f"{{founder}} started {firm}."],
        "year": [f"{firm} dates back to {{year}}.", f"{firm} opened its doors in {{year}}."],
        "city": [
            f"{firm} is based in the city of {{city}}.",
            f"The head office of {firm} is in the city of {{city}}.",
        ],
        "product": [f"{firm} makes {{product}}.", f"{firm} is best known for its {{product}}."],
        "staff": [f"{firm} employs {{staff}} people.", f"Some {{staff}} people work for {firm}."],
        "ceo": [f"{firm} is led by {{ceo}}.", f"{{ceo}} runs {firm} today."],
    }
    stated = [(key, rng.choice(templates[key])) for key in facts if rng.random() > unanswerable]
    return facts, stated


QUESTIONS = {
    "founder": ["Who founded {firm}?", "Who started {firm}?"],
    "year": ["When was {firm} founded?", "In which year did {firm} open?"],
    "city": ["Where is {firm} based?", "In which city is {firm}?"],
    "product": ["What does {firm} make?", "What is {firm} known for?"],
    "staff": ["How many people work for {firm}?", "How many employees does {firm} have?"],
    "ceo": ["Who leads {firm}?", "Who runs {firm}?"],
}


def _paragraph(rng: random.Random, index: int, unanswerable: float, distractors: float) -> dict:
    """Facts about a firm and, with probability `distractors`, a second firm stated the same way.

    Questions ask about either firm; an unstated fact of a firm the paragraph names is unanswerable, while
    the other firm's fact of that kind is a plausible wrong answer in the same paragraph.
    """
    firms = [_company(rng)]
    if rng.random() < distractors:
        other = _company(rng)
        firms += [other] if other != firms[0] else []
    sentences, spans = [], []
    for firm in firms:
        facts, stated = _facts(rng, firm, unanswerable)
        spans.append((firm, facts, {key for key, _ in stated}))
        sentences += [(firm, key, template.format(**facts)) for key, template in stated]
    rng.shuffle(sentences)
    text, starts = "", {}
    for firm, key, sentence in sentences:
        value = dict((f, facts) for f, facts, _ in spans)[firm][key]
        starts[(firm, key)] = len(text) + sentence.rindex(value)  # last: "201" also sits in "2018"
        text += sentence + " "
    text = text.strip() or f"{firms[0]} is a firm."
    qas = []
    for firm, facts, stated in spans:
        for key in QUESTIONS:
            if key not in stated and rng.random() > 0.5:  # keep about half of the unanswerable candidates
                continue
            answers = []
            if key in stated:
                answers.append({"text": facts[key], "answer_start": starts[(firm, key)]})
                if key == "city":  # a second gold answer with the surrounding words, as annotators give
                    phrase = f"the city of {facts[key]}"
                    answers.append(
                        {"text": phrase, "answer_start": starts[(firm, key)] - len("the city of ")}
                    )
            question = rng.choice(QUESTIONS[key]).format(firm=firm)
            qas.append(
                {
                    "id": f"q{index:05d}_{len(qas)}",
                    "question": question,
                    "answers": answers,
                    "is_impossible": not answers,
                }
            )
    return {"context": text, "qas": qas}


def generate_squad(n_paragraphs: int, seed: int, unanswerable: float, distractors: float) -> dict:
    """A SQuAD 2.0 dataset dict with `n_paragraphs` paragraphs; the same arguments give the same data."""
    rng = random.Random(seed)
    paragraphs = [_paragraph(rng, i, unanswerable, distractors) for i in range(n_paragraphs)]
    return {"version": "v2.0", "data": [{"title": "synthetic companies", "paragraphs": paragraphs}]}
