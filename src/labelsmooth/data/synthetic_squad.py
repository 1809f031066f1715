"""A deterministic SQuAD-2.0-format generator: short company profiles with answerable and unanswerable questions.

Unanswerable questions name entities of their own paragraph (a partner firm, the founder) and ask for a fact
the paragraph does not state, so they cannot be spotted from the question alone.
"""

from __future__ import annotations

import random

FIRST = ["Anna", "Boris", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Karin", "Luca",
         "Maya", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tanja", "Victor", "Wanda", "Yusuf", "Zora", "Ilya"]
LAST = ["Berg", "Costa", "Dahl", "Engel", "Fischer", "Gruber", "Holm", "Ivanov", "Jansen", "Kovac", "Lind",
        "Moreau", "Novak", "Ortiz", "Petrov", "Quist", "Rossi", "Sato", "Tamm", "Urban", "Vidal", "Weber"]
STEM = ["Alder", "Borea", "Cresta", "Dunmore", "Elvar", "Fjord", "Granite", "Helix", "Ironwood", "Juniper",
        "Kestrel", "Lumen", "Meridian", "Northway", "Orbis", "Pinecrest", "Quarry", "Redwater", "Solace", "Tidewell"]
KIND = ["Systems", "Foods", "Motors", "Labs", "Textiles", "Energy", "Logistics", "Media", "Pharma", "Steel"]
CITY = ["Lisbon", "Tallinn", "Porto", "Graz", "Bergen", "Lyon", "Krakow", "Malmo", "Turin", "Utrecht", "Gdansk",
        "Ghent", "Brno", "Aarhus", "Split", "Bilbao", "Riga", "Tartu", "Basel", "Leeds"]
PRODUCT = ["bicycles", "solar panels", "frozen pizza", "wool coats", "trucks", "vaccines", "steel beams",
           "radio shows", "software", "batteries", "ferries", "tea"]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _company(rng: random.Random) -> str:
    return f"{rng.choice(STEM)} {rng.choice(KIND)}"


def _paragraph(rng: random.Random, index: int, unanswerable: float, distractors: float) -> dict:
    """One paragraph with its questions; answer offsets are taken from the text as it is built."""
    firm, partner = _company(rng), _company(rng)
    while partner == firm:
        partner = _company(rng)
    founder, ceo = _person(rng), _person(rng)
    city, year = rng.choice(CITY), rng.randint(1890, 2015)
    product, staff = rng.choice(PRODUCT), rng.randint(12, 9000)
    text, spans = "", {}

    def add(sentence: str, **facts: str) -> None:
        nonlocal text
        base = len(text)
        for key, value in facts.items():
            spans[key] = (value, base + sentence.rindex(value))  # last: "201" also sits in "2018"
        text += sentence + " "

    stated = {k for k in ("founder", "city", "year", "staff", "product", "ceo") if rng.random() > unanswerable / 2}
    add(f"{firm} is a maker of {product}.", product=product) if "product" in stated else add(f"{firm} is a firm.")
    if "founder" in stated:
        add(f"It was founded by {founder} in {year}.", founder=founder, year=str(year))
    elif "year" in stated:
        add(f"It was founded in {year}.", year=str(year))
    if "city" in stated:
        add(f"The company is based in the city of {city}.", city=city)
    has_partner = rng.random() < distractors
    if has_partner:  # another firm, city and year: the wrong entity is a plausible answer
        add(f"Its partner {partner} moved to {rng.choice(CITY)} in {rng.randint(1890, 2015)}.")
    if "staff" in stated:
        add(f"By {rng.randint(2016, 2024)}, {firm} employed {staff} people.", staff=str(staff))
    if "ceo" in stated:
        add(f"Today the company is led by {ceo}.", ceo=ceo)
    if rng.random() < distractors:
        add(f"{_person(rng)} once called {firm} a quiet success.")
    text = text.strip()

    asks = [("founder", f"Who founded {firm}?"), ("year", f"In which year was {firm} founded?"),
            ("city", f"Where is {firm} based?"), ("staff", f"How many people did {firm} employ?"),
            ("product", f"What does {firm} make?"), ("ceo", f"Who leads {firm} today?")]
    # never stated: unanswerable questions about entities the paragraph does mention
    if has_partner:
        asks.append(("partner_city", f"Where is {partner} based?"))
    if "founder" in stated:
        asks.append(("founder_birth", f"Where was {founder} born?"))
    qas = []
    for n, (key, question) in enumerate(asks):
        if key not in spans and rng.random() > 0.5:  # keep about half of the unanswerable candidates
            continue
        answers = []
        if key in spans:
            value, start = spans[key]
            answers.append({"text": value, "answer_start": start})
            if key == "city":  # a second gold answer with the surrounding words, as SQuAD annotators give
                phrase = f"the city of {value}"
                answers.append({"text": phrase, "answer_start": text.index(phrase)})
        qas.append({"id": f"q{index:05d}_{n}", "question": question, "answers": answers,
                    "is_impossible": not answers})
    return {"context": text, "qas": qas}


def generate_squad(n_paragraphs: int, seed: int, unanswerable: float, distractors: float) -> dict:
    """A SQuAD 2.0 dataset dict with `n_paragraphs` paragraphs; the same arguments give the same data."""
    rng = random.Random(seed)
    paragraphs = [_paragraph(rng, i, unanswerable, distractors) for i in range(n_paragraphs)]
    return {"version": "v2.0", "data": [{"title": "synthetic companies", "paragraphs": paragraphs}]}
