"""A deterministic generator of CoNLL-2003-format NER sentences (PER/ORG/LOC/MISC, IOB1 tags).

English-like news templates filled from name lists (`conll_lexicon`). What makes it a task rather than a
lookup table: ambiguous names ("Jordan", "Washington", "Philip Morris") whose type only the context tells;
neutral templates without such a cue (so even a perfect model cannot reach 100 F1); names held out of the
training split; common words that are also names ("bill", "rose", "Bush", sentence-initial "Young");
multi-word entities with a location inside an organisation ("Leeds United"); and adjacent entities of one
type (the IOB1 B- case). Same arguments → same sentences, byte for byte.

Files are written in the 2-column `token NER` CoNLL format (read them with `read_conll(..., columns=2)`):
the POS and chunk columns of the original are not generated, since nothing here reads them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from labelsmooth.data.conll_lexicon import (
    AMBIGUOUS,
    AMBIGUOUS_NAMES,
    CITIES,
    COUNTRIES,
    CUE_TEMPLATES,
    DAYS,
    DISTRACTOR_TEMPLATES,
    EVENTS,
    FIRST_NAMES,
    JOINERS,
    MONTHS,
    NATIONALITIES,
    NEUTRAL_TEMPLATES,
    ORG_SUFFIXES,
    ORGS_FIXED,
    STEM_ENDINGS,
    STEM_ONSETS,
    STEM_VOWELS,
    SURNAMES,
    TEAM_SUFFIXES,
    WORD_FIRST_NAMES,
    WORD_SURNAMES,
)

# Bump when the generator's output changes, so cached files are regenerated. 2: files have 2 columns
# (token NER); the tokens and tags are those of version 1.
GENERATOR_VERSION = 2


@dataclass(frozen=True)
class Knobs:
    """Difficulty knobs of the synthetic task, each a probability in [0, 1]."""

    ambiguity: float = 0.3  # share of entity slots filled with an ambiguous name (Jordan, Washington, …)
    cue_dropout: float = 0.25  # share of sentences from a neutral template (no cue to the type)
    unseen_names: float = 0.2  # share of the name vocabulary kept out of train (val/test draw from all)
    distractors: float = 0.25  # share of sentences with a name-like common word tagged O

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"data.{key}={value}: expected a value in [0, 1]")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class SyntheticSentence:
    """One generated sentence: its tokens and their NER tags (IOB1, like the original CoNLL-2003 files)."""

    tokens: list[str]
    tags: list[str]


def _names(items: Sequence[str]) -> list[str]:
    return [item.replace("_", " ") for item in items]


def _pseudo_stems(n: int) -> list[str]:
    """Invented company stems (Kentrax, Volaris, …): an open vocabulary that no pretrained model knows."""
    rng = random.Random("labelsmooth-stems")  # fixed: the vocabulary is the same for every seed
    stems: set[str] = set()
    while len(stems) < n:
        stem = "".join(rng.choice(STEM_ONSETS) + rng.choice(STEM_VOWELS) for _ in range(rng.randint(1, 2)))
        stems.add(stem.capitalize() + rng.choice(STEM_ENDINGS))
    return sorted(stems)


class _Vocabulary:
    """Name lists for one split: train sees only the visible part, val/test also the held-out part."""

    def __init__(self, seed: int, unseen_names: float, heldout: bool) -> None:
        rng = random.Random(f"labelsmooth-vocab-{seed}")  # same partition for all splits of one seed

        def part(items: Sequence[str]) -> list[str]:
            items = sorted(set(items) - AMBIGUOUS_NAMES)
            rng.shuffle(items)
            n_hidden = round(len(items) * unseen_names)
            return items if heldout else items[n_hidden:] or items[:1]

        self.first = part(FIRST_NAMES) + WORD_FIRST_NAMES
        self.surnames = part(SURNAMES) + WORD_SURNAMES  # the word-like surnames are always seen
        self.places = part(_names(CITIES) + _names(COUNTRIES))
        cities = set(_names(CITIES))
        self.cities = [c for c in self.places if c in cities]
        self.nationalities = part(NATIONALITIES)
        self.events = part(_names(EVENTS))
        self.orgs = part(_names(ORGS_FIXED))
        self.stems = part(_pseudo_stems(240))
        self.ambiguous = {
            kind: [name for name, kinds in AMBIGUOUS if kind in kinds]
            for kind in ("PER", "ORG", "LOC", "MISC")
        }


class _Builder:
    """Fills templates into tokens with entity spans, then into the four CoNLL columns."""

    def __init__(self, rng: random.Random, vocab: _Vocabulary, knobs: Knobs) -> None:
        self.rng, self.vocab, self.knobs = rng, vocab, knobs

    def _ambiguous(self, kind: str) -> str | None:
        names = self.vocab.ambiguous[kind]
        if names and self.rng.random() < self.knobs.ambiguity:
            return self.rng.choice(names)
        return None

    def person(self, surname_only: bool) -> str:
        r, v = self.rng, self.vocab
        if (name := self._ambiguous("PER")) is not None:
            return name
        form = r.random()
        if surname_only or form < 0.25:
            return r.choice(v.surnames)
        if form < 0.35:
            return f"{r.choice(v.first)[0]}. {r.choice(v.surnames)}"
        return f"{r.choice(v.first)} {r.choice(v.surnames)}"

    def organisation(self, team: bool) -> str:
        r, v = self.rng, self.vocab
        if (name := self._ambiguous("ORG")) is not None:
            return name
        form = r.random()
        if team or form < 0.15:
            return f"{r.choice(v.cities)} {r.choice(TEAM_SUFFIXES)}"
        if form < 0.5:
            return r.choice(v.orgs)
        if form < 0.8:
            return f"{r.choice(v.stems)} {r.choice(ORG_SUFFIXES)}"
        return f"{r.choice(v.surnames)} {r.choice(ORG_SUFFIXES)}"

    def location(self) -> str:
        if (name := self._ambiguous("LOC")) is not None:
            return name
        return self.rng.choice(self.vocab.places)

    def misc(self, event: bool) -> str:
        if event and (name := self._ambiguous("MISC")) is not None:  # "Wimbledon" fits events only
            return name
        if event:
            nat = self.rng.choice(self.vocab.nationalities)
            return self.rng.choice([*self.vocab.events, f"{nat} Grand Prix", f"{nat} Open"])
        return self.rng.choice(self.vocab.nationalities)

    def any_entity(self) -> tuple[str, str]:
        """A neutral slot: an ambiguous name gets one of its types uniformly (no prior to learn)."""
        r = self.rng
        if r.random() < self.knobs.ambiguity:
            name, kinds = r.choice(AMBIGUOUS)
            return name, r.choice(kinds)
        kind = r.choices(("PER", "ORG", "LOC", "MISC"), weights=(4, 3, 3, 1))[0]
        return self.fill_entity(kind), kind

    def fill_entity(self, kind: str) -> str:
        return {
            "PER": lambda: self.person(False),
            "ORG": lambda: self.organisation(False),
            "LOC": self.location,
            "MISC": lambda: self.misc(self.rng.random() < 0.3),
        }[kind]()

    def slot(self, name: str) -> tuple[str, str | None]:
        """(text, entity type or None) for a template slot."""
        r = self.rng
        entity = {
            "PER": lambda: (self.person(False), "PER"),
            "SUR": lambda: (self.person(True), "PER"),
            "ORG": lambda: (self.organisation(False), "ORG"),
            "TEAM": lambda: (self.organisation(True), "ORG"),
            "LOC": lambda: (self.location(), "LOC"),
            "NAT": lambda: (self.misc(False), "MISC"),
            "EVENT": lambda: (self.misc(True), "MISC"),
            "ANY": self.any_entity,
        }
        if name in entity:
            return entity[name]()
        filler = {
            "NUM": lambda: str(r.randint(2, 950)),
            "AGE": lambda: str(r.randint(18, 90)),
            "PCT": lambda: f"{r.randint(0, 30)}.{r.randint(0, 9)}",
            "SCORE": lambda: f"{r.randint(0, 7)}-{r.randint(0, 6)}",
            "DAY": lambda: r.choice(DAYS),
            "MONTH": lambda: r.choice(MONTHS),
            "YEAR": lambda: str(r.randint(1950, 1996)),
        }
        if name not in filler:
            raise KeyError(f"template slot {{{name}}} is not defined")
        return filler[name](), None

    def clause(self, template: str) -> list[tuple[str, str | None]]:
        """Tokens of a filled template, each with its entity type or None (an entity is one item)."""
        out: list[tuple[str, str | None]] = []
        for word in template.split():
            if word.startswith("{") and word.endswith("}"):
                out.append(self.slot(word[1:-1]))
            else:
                out.append((word, None))
        return out

    def sentence(self) -> SyntheticSentence:
        r, k = self.rng, self.knobs
        pool = NEUTRAL_TEMPLATES if r.random() < k.cue_dropout else CUE_TEMPLATES
        clauses = [self.clause(r.choice(pool))]
        if r.random() < k.distractors:
            clauses.insert(r.randrange(2), self.clause(r.choice(DISTRACTOR_TEMPLATES)))
        elif r.random() < 0.25:  # some longer sentences, as in newswire
            clauses.append(self.clause(r.choice(CUE_TEMPLATES)))
        parts: list[tuple[str, str | None]] = list(clauses[0])
        for extra in clauses[1:]:
            parts += [(w, None) for w in r.choice(JOINERS)] + extra
        parts.append((".", None))
        return _tagged(parts)


def _tagged(parts: list[tuple[str, str | None]]) -> SyntheticSentence:
    """Expand entity strings into tokens with IOB1 tags (B- only right after an entity of the same type)."""
    tokens, tags = [], []
    prev_kind: str | None = None
    for index, (text, kind) in enumerate(parts):
        words = text.split()
        if index == 0 and kind is None:
            words[0] = words[0][0].upper() + words[0][1:]
        for j, word in enumerate(words):
            tokens.append(word)
            if kind is None:
                tags.append("O")
            else:
                tags.append(f"B-{kind}" if j == 0 and prev_kind == kind else f"I-{kind}")
        prev_kind = kind
    return SyntheticSentence(tokens, tags)


def generate_conll(
    n_sentences: int,
    seed: int,
    split: str = "train",
    ambiguity: float = Knobs.ambiguity,
    cue_dropout: float = Knobs.cue_dropout,
    unseen_names: float = Knobs.unseen_names,
    distractors: float = Knobs.distractors,
) -> list[SyntheticSentence]:
    """`n_sentences` sentences for `split` (train never sees held-out names); deterministic in all args."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split={split!r}: expected 'train', 'val' or 'test'")
    knobs = Knobs(ambiguity, cue_dropout, unseen_names, distractors)
    vocab = _Vocabulary(seed, knobs.unseen_names, heldout=split != "train")
    builder = _Builder(random.Random(f"labelsmooth-{split}-{seed}"), vocab, knobs)
    return [builder.sentence() for _ in range(n_sentences)]


def write_conll_file(path: str | Path, sentences: Sequence[SyntheticSentence], doc_size: int = 10) -> None:
    """Write 2-column `token NER` CoNLL with a `-DOCSTART- O` line every `doc_size` sentences.

    The document lines keep the file shaped like CoNLL-2003 (and exercise the reader's DOCSTART handling).
    """
    lines: list[str] = []
    for i, s in enumerate(sentences):
        if i % doc_size == 0:
            lines += ["-DOCSTART- O", ""]
        lines += [f"{token} {tag}" for token, tag in zip(s.tokens, s.tags, strict=True)]
        lines.append("")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
