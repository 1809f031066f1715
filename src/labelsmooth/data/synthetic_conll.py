"""A deterministic generator of CoNLL-2003-format NER sentences (PER/ORG/LOC/MISC, IOB1 tags, 4 columns).

English-like news templates filled from name lists. What makes it a task rather than a lookup table:
ambiguous names ("Jordan", "Washington", "Philip Morris") whose type only the context tells; neutral
templates without such a cue (so even a perfect model cannot reach 100 F1); names held out of the training
split; common words that are also names ("bill", "rose", "Bush", sentence-initial "Young"); multi-word
entities with a location inside an organisation ("Leeds United"); and adjacent entities of one type (the
IOB1 B- case). Same arguments → same sentences, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

# Bump when the generator's output changes, so cached files are regenerated.
GENERATOR_VERSION = 1


def _words(text: str) -> list[str]:
    """Whitespace-separated words: keeps the long name lists readable."""
    return text.split()


# fmt: off
FIRST_NAMES = _words("""
John Michael David James Robert William Richard Thomas Peter Paul George Stephen Andrew Mark Daniel
Christopher Anthony Kevin Brian Edward Ronald Timothy Jason Jeffrey Gary Ryan Nicholas Eric Jacob
Jonathan Larry Justin Scott Frank Brandon Raymond Gregory Samuel Patrick Alexander Jack Dennis Jerry
Tyler Aaron Henry Douglas Adam Nathan Zachary Walter Kyle Harold Carl Arthur Gerald Roger Keith Lawrence
Terry Albert Joe Sean Bruce Ralph Roy Eugene Louis Wayne Alan Juan Carlos Luis Jose Miguel Pedro Pablo
Hans Klaus Jurgen Dieter Wolfgang Helmut Gerhard Pierre Jean Jacques Francois Michel Alain Philippe
Giovanni Marco Luca Paolo Franco Sergei Boris Ivan Dmitri Vladimir Yuri Igor Ahmed Mohammed Ali Omar
Hassan Yasser Ehud Shimon Benjamin Kofi Nelson Desmond Thabo Hiroshi Takeshi Kenji Wei Li Chen Raj
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Margaret Sandra
Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Sharon Laura
Cynthia Kathleen Amy Shirley Angela Helen Anna Brenda Pamela Nicole Emma Samantha Katherine Christine
Monica Steffi Martina Gabriela Arantxa Conchita Jana Anke Iva Hillary Benazir Madeleine Yoko Ingrid
""")

SURNAMES = _words("""
Smith Johnson Williams Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin Thompson Harris
Clark Lewis Robinson Walker Allen Wright Scott Adams Nelson Carter Mitchell Perez Roberts Turner
Phillips Campbell Parker Evans Edwards Collins Stewart Sanchez Morris Rogers Reed Bailey Cooper
Richardson Cox Howard Ward Torres Peterson Gray Ramirez Watson Brooks Kelly Sanders Bennett Wood
Barnes Ross Henderson Coleman Jenkins Perry Powell Patterson Hughes Flores Simmons Foster Bryant
Alexander Russell Griffin Diaz Hayes Myers Hamilton Graham Sullivan Wallace West Cole Jordan Owens
Reynolds Fisher Ellis Harrison Gibson McDonald Cruz Marshall Ortiz Gomez Murray Freeman Wells Webb
Simpson Stevens Tucker Porter Hunter Hicks Crawford Boyd Mason Kennedy Warren Dixon Burns Gordon Shaw
Holmes Rice Robertson Black Daniels Palmer Mills Nichols Grant Knight Ferguson Stone Hawkins Dunn
Perkins Hudson Spencer Gardner Stephens Payne Pierce Berry Matthews Arnold Wagner Willis Ray Watkins
Olson Carroll Duncan Snyder Hart Cunningham Bradley Lane Andrews Ruiz Harper Fox Riley Armstrong
Carpenter Weaver Greene Lawrence Elliott Chavez Sims Austin Peters Kelley Franklin Lawson Fields
Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf
Dupont Durand Lefebvre Moreau Laurent Simon Michel Garcia Rossi Russo Ferrari Esposito Bianchi Romano
Ivanov Petrov Smirnov Popov Yeltsin Lebed Chernomyrdin Kohl Chirac Major Blair Netanyahu Arafat
Peres Mandela Annan Clinton Dole Gingrich Perot Kuchma Milosevic Karadzic Mladic Tudjman Izetbegovic
Hingis Graf Sampras Agassi Becker Ivanisevic Muster Kafelnikov Chang Courier Edberg Stich Enqvist
Tendulkar Akram Lara Ambrose Warne Waugh Atherton Hussain Schumacher Hill Villeneuve Alesi Berger
Tanaka Suzuki Watanabe Yamamoto Nakamura Kim Park Lee Wang Zhang Liu Singh Patel Khan Sharif Bhutto
Kowalski Novak Horvath Nagy Jansen Bakker Visser Andersen Nielsen Larsen Johansson Lindberg Virtanen
""")

# Names that are also common English words (the same word appears as O in distractor templates); kept in
# every split so the model sees both uses.
WORD_SURNAMES = _words("Bush Rice Young Long Brown White Price Banks Hunt Cash Law Baker Cook King Sterling")
WORD_FIRST_NAMES = _words("Bill Mark Will Rose Grant May")

CITIES = _words("""
London Bonn Berlin Frankfurt Munich Hamburg Rome Madrid Lisbon Vienna Brussels Amsterdam Geneva Zurich
Stockholm Oslo Copenhagen Helsinki Warsaw Prague Budapest Bucharest Sofia Athens Belgrade Zagreb
Sarajevo Moscow Kiev Minsk Ankara Istanbul Cairo Baghdad Tehran Beirut Damascus Amman Jerusalem Gaza
Riyadh Kuwait Karachi Islamabad Lahore Bombay Calcutta Madras Colombo Dhaka Bangkok Jakarta Manila
Singapore Beijing Shanghai Tokyo Osaka Seoul Taipei Sydney Melbourne Perth Auckland Nairobi Lagos
Johannesburg Harare Lusaka Kinshasa Algiers Tunis Casablanca Lima Bogota Caracas Santiago Montevideo
Havana Toronto Montreal Vancouver Ottawa Chicago Seattle Detroit Atlanta Miami Denver Baltimore
Philadelphia Pittsburgh Cincinnati Minneapolis Oakland Anaheim Tampa Glasgow Edinburgh Cardiff Belfast
Dublin Manchester Birmingham Bristol Leicester Nottingham Sheffield Newcastle Southampton Marseille
Lyon Toulouse Bordeaux Naples Turin Genoa Seville Valencia Porto Antwerp Rotterdam Gothenburg Krakow
New_York Los_Angeles San_Francisco Hong_Kong Buenos_Aires Rio_de_Janeiro Sao_Paulo Kuala_Lumpur
Tel_Aviv New_Delhi Cape_Town Mexico_City St_Louis San_Diego Las_Vegas Abu_Dhabi
""")

COUNTRIES = _words("""
Britain France Germany Italy Spain Portugal Belgium Netherlands Switzerland Austria Sweden Norway
Denmark Finland Poland Hungary Romania Bulgaria Greece Albania Serbia Croatia Bosnia Slovenia Russia
Ukraine Belarus Turkey Egypt Iraq Iran Syria Lebanon Israel Kuwait Pakistan India China Japan Taiwan
Thailand Indonesia Malaysia Vietnam Cambodia Australia Kenya Nigeria Zaire Rwanda Burundi Uganda
Zimbabwe Zambia Angola Algeria Morocco Libya Sudan Somalia Ethiopia Brazil Argentina Chile Peru
Colombia Venezuela Mexico Cuba Canada Chechnya Tajikistan Afghanistan Kazakhstan Azerbaijan Armenia
U.S. United_States South_Africa New_Zealand Sri_Lanka Saudi_Arabia North_Korea South_Korea
Czech_Republic Ivory_Coast Gaza_Strip West_Bank Northern_Ireland
""")

NATIONALITIES = _words("""
German French British American Russian Chinese Japanese Israeli Palestinian Syrian Iraqi Iranian Dutch
Belgian Italian Spanish Swiss Swedish Norwegian Danish Polish Czech Hungarian Greek Turkish Egyptian
Kenyan Nigerian Brazilian Argentine Mexican Canadian Australian Indian Pakistani Korean Thai Serbian
Croatian Bosnian Muslim Catholic Kurdish Arab European Asian African Lebanese Chechen Albanian Cuban
""")

EVENTS = _words("""
World_Cup Olympic_Games Tour_de_France Davis_Cup Super_Bowl Euro_96 Cold_War Gulf_War Ryder_Cup
Nobel_Peace_Prize Grand_National Champions_League Cup_Winners_Cup Wimbledon_championships
""")

ORGS_FIXED = _words("""
United_Nations European_Union European_Commission Bundesbank World_Bank International_Monetary_Fund
Red_Cross NATO Reuters Microsoft General_Motors Deutsche_Bank Federal_Reserve New_York_Stock_Exchange
Nasdaq OPEC Interpol Greenpeace Amnesty_International Hamas Hezbollah Sinn_Fein Labour_Party
Conservative_Party Democratic_Party Republican_Party Kremlin Pentagon Bank_of_England Lufthansa
British_Airways Air_France Volkswagen Siemens Nestle Unilever Shell Exxon Chrysler Boeing Airbus
Intel Apple IBM Sony Toyota Nissan Fiat Renault Philips Ericsson Nokia Daimler_Benz Coca-Cola PepsiCo
Juventus Ajax Arsenal Everton Bayern_Munich Real_Madrid Inter_Milan Celtic Rangers Benfica
""")

ORG_SUFFIXES = _words("""
Corp Inc Holdings Group Bank Airlines Motors Industries Petroleum Electric Systems Ltd Partners
Securities Capital Energy Foods Steel Mining Telecom Chemicals Insurance Pharmaceuticals Resources
""")

TEAM_SUFFIXES = _words("United City Rovers Athletic Wanderers Town")
# fmt: on

# Names that are PER in one sentence and ORG/LOC in another: only the context decides.
AMBIGUOUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Jordan", ("PER", "LOC", "ORG")),
    ("Washington", ("PER", "LOC")),
    ("Philip Morris", ("PER", "ORG")),
    ("John Lewis", ("PER", "ORG")),
    ("Ford", ("PER", "ORG")),
    ("Dell", ("PER", "ORG")),
    ("Paris", ("PER", "LOC")),
    ("Georgia", ("PER", "LOC")),
    ("Chelsea", ("PER", "ORG")),
    ("Lincoln", ("PER", "LOC")),
    ("Houston", ("PER", "LOC")),
    ("Austin", ("PER", "LOC")),
    ("Jackson", ("PER", "LOC")),
    ("Madison", ("PER", "LOC")),
    ("Florence", ("PER", "LOC")),
    ("Victoria", ("PER", "LOC")),
    ("Nelson", ("PER", "LOC")),
    ("Wellington", ("PER", "LOC")),
    ("Morgan", ("PER", "ORG")),
    ("Chase", ("PER", "ORG")),
    ("Hilton", ("PER", "ORG")),
    ("Disney", ("PER", "ORG")),
    ("Honda", ("PER", "ORG")),
    ("Mercedes", ("PER", "ORG")),
    ("Benetton", ("PER", "ORG")),
    ("Kellogg", ("PER", "ORG")),
    ("Stanford", ("PER", "ORG")),
    ("Santos", ("PER", "ORG")),
    ("Milan", ("PER", "LOC", "ORG")),
    ("Dallas", ("PER", "LOC", "ORG")),
    ("Boston", ("LOC", "ORG")),
    ("Liverpool", ("LOC", "ORG")),
    ("Barcelona", ("LOC", "ORG")),
    ("Reading", ("LOC", "ORG")),
    ("Derby", ("LOC", "ORG")),
    ("Columbia", ("LOC", "ORG")),
    ("Phoenix", ("LOC", "ORG")),
    ("Wimbledon", ("LOC", "MISC")),
)
AMBIGUOUS_NAMES = frozenset(name for name, _ in AMBIGUOUS)

# Clause templates. {PER} a person (various forms), {SUR} a surname-style person, {ORG} an organisation,
# {TEAM} a sports club, {LOC} a place, {NAT} a nationality (MISC), {EVENT} an event (MISC); {NUM} {PCT}
# {SCORE} {DAY} {YEAR} {MONTH} are O fillers. Each clause cues the type of its slots by its wording.
CUE_TEMPLATES: tuple[str, ...] = (
    # PER cues: said/told, titles, roles, sports people
    "{PER} said on {DAY} that the talks would continue",
    "Mr {SUR} told reporters in {LOC} that he was confident",
    "{PER} , the chief executive of {ORG} , said profits would rise",
    "striker {PER} scored twice as {TEAM} beat {TEAM} {SCORE}",
    "{PER} ( {LOC} ) beat {PER} ( {LOC} ) {SCORE} {SCORE}",
    "President {PER} met Prime Minister {PER} on {DAY}",
    "{PER} , who joined {ORG} in {YEAR} , resigned on {DAY}",
    "coach {SUR} said his team had played well",
    "{NAT} leader {PER} arrived in {LOC} on {DAY}",
    "opposition leader {PER} called for new elections",
    "{PER} finished second behind {PER} in the {EVENT}",
    "{PER} was sentenced to {NUM} years in prison",
    "according to {PER} , a spokesman for {ORG} , the deal is off",
    "{SUR} 's lawyer said the case would be appealed",
    "former world champion {PER} announced his retirement",
    "{PER} , aged {AGE} , was born in {LOC}",
    "Mrs {SUR} thanked her supporters",
    "the minister , {PER} , flew to {LOC} on {DAY}",
    "{ORG} chairman {PER} said sales were strong",
    "defender {SUR} was sent off in the {NUM}th minute",
    # ORG cues: shares, company, statement, teams
    "shares of {ORG} rose {PCT} percent to {NUM} dollars",
    "{ORG} shares fell {PCT} percent on {DAY}",
    "{ORG} reported a net profit of {NUM} million dollars",
    "the {ORG} board approved the merger with {ORG}",
    "{ORG} said in a statement it would cut {NUM} jobs",
    "analysts at {ORG} expect interest rates to fall",
    "{TEAM} beat {TEAM} {SCORE} in the league on {DAY}",
    "{ORG} , based in {LOC} , makes chemicals",
    "a spokesman for {ORG} declined to comment",
    "{ORG} agreed to buy {ORG} for {NUM} million dollars",
    "the company {ORG} filed for bankruptcy on {DAY}",
    "{TEAM} are top of the table after {NUM} games",
    "{ORG} officials arrived in {LOC} on {DAY}",
    "the {ORG} {ORG} merger was approved in {MONTH}",
    # LOC cues: prepositions of place, government, travel
    "in {LOC} , police said {NUM} people were injured",
    "the government of {LOC} said it would hold talks",
    "flights from {LOC} to {LOC} were cancelled",
    "heavy rain hit {LOC} and {LOC} on {DAY}",
    "he was born in {LOC} in {YEAR}",
    "troops crossed the border into {LOC}",
    "the embassy in {LOC} was closed on {DAY}",
    "{NUM} people were killed near {LOC}",
    "exports to {LOC} rose {PCT} percent",
    "the summit will be held in {LOC} next month",
    "residents of {LOC} were evacuated",
    "the road between {LOC} and {LOC} was reopened",
    "the {LOC} {LOC} rail link opened on {DAY}",
    # MISC cues: nationalities and events
    "{NAT} troops entered {LOC} on {DAY}",
    "{NUM} {NAT} tourists were injured in {LOC}",
    "the {EVENT} final will be played in {LOC}",
    "he won a gold medal at the {EVENT}",
    "{NAT} and {NAT} officials met in {LOC}",
    "the {NAT} {NAT} talks resumed in {LOC}",
    "the {NAT} government denied the report",
)

# No cue to the slot's type: a name ambiguous between types is a coin flip here, for any model.
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "{ANY} was mentioned in the report",
    "the report also named {ANY}",
    "there was no word from {ANY} on {DAY}",
    "{ANY} topped the list again",
    "the list included {ANY} and {ANY}",
    "all eyes were on {ANY} this week",
    "{ANY} was not on the agenda",
    "a decision on {ANY} is expected on {DAY}",
)

# Common words that are also names (bill, rose, mark, Bush, Young at the start): tagged O.
DISTRACTOR_TEMPLATES: tuple[str, ...] = (
    "parliament passed the bill on {DAY}",
    "prices rose {PCT} percent in {MONTH}",
    "the mark fell against the dollar",
    "sterling rose against the mark in {LOC}",
    "he may resign if the bill fails",
    "it was the will of the people",
    "the bush fire spread towards {LOC}",
    "rice exports rose {PCT} percent",
    "the hunt for the gunmen continued",
    "young people protested in {LOC}",
    "long queues formed outside the bank",
    "brown coal output fell {PCT} percent",
    "white smoke rose over the city",
    "the government grant was cut",
    "the price of oil rose on {DAY}",
    "the banks were closed on {DAY}",
    "cash reserves fell in {MONTH}",
    "the law was changed in {YEAR}",
    "a local baker was arrested",
    "the king of {LOC} opened parliament",
    "the second reading of the bill was delayed",
    "a police chase ended in {LOC}",
    "turkey sales rose before the holiday",
)

DAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
MONTHS = _words("January February March April June July August September October November December")
JOINERS = ((",", "and"), (",", "while"), (";",), (",", "but"))

# Part-of-speech of template words (CoNLL uses Penn tags); anything else gets a suffix-based guess.
POS_LEXICON = {
    **dict.fromkeys(_words("the a an all no this"), "DT"),
    **dict.fromkeys(
        _words(
            "in on of to for at from into near after before behind with by towards against outside over"
            " between according as that"
        ),
        "IN",
    ),
    **dict.fromkeys(_words("he it his her its their"), "PRP"),
    **dict.fromkeys(_words("and but while"), "CC"),
    **dict.fromkeys(_words("not again also twice"), "RB"),
    **dict.fromkeys(_words("next new strong former local second heavy net young long brown white"), "JJ"),
    **dict.fromkeys(
        _words(
            "was were are is be had would will may could said told met beat scored resigned arrived called"
            " finished joined flew thanked rose fell reported approved declined agreed filed cut entered"
            " crossed hit killed injured held closed evacuated reopened opened won played denied resumed"
            " passed spread continued protested formed changed arrested ended delayed sentenced announced"
            " mentioned named included topped expected confident born"
        ),
        "VBD",
    ),
    **{"'s": "POS", "(": "(", ")": ")", ",": ",", ".": ".", ";": ":", "who": "WP", "aged": "VBN"},
    **{"Mr": "NNP", "Mrs": "NNP", "President": "NNP", "Prime": "NNP", "Minister": "NNP"},
    **{"percent": "NN", "million": "CD"},
}
_CHUNK_OF_POS = {"IN": "I-PP", "CC": "O", "RB": "I-ADVP", "WP": "I-NP", "POS": "B-NP"}


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
    """One generated sentence: the four CoNLL-2003 columns (NER tags in IOB1, like the original files)."""

    tokens: list[str]
    pos: list[str]
    chunks: list[str]
    tags: list[str]


def _names(items: Sequence[str]) -> list[str]:
    return [item.replace("_", " ") for item in items]


def _pseudo_stems(n: int) -> list[str]:
    """Invented company stems (Kentrax, Volaris, …): an open vocabulary that no pretrained model knows."""
    rng = random.Random("labelsmooth-stems")  # fixed: the vocabulary is the same for every seed
    onsets, vowels = _words("B C D F G K L M N P R S T V Z Br Tr Kr Pl St Gr"), _words("a e i o u")
    endings = _words("x tron rix lis dex gen tel nova com plex sys on ia ar")
    stems: set[str] = set()
    while len(stems) < n:
        stem = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 2)))
        stems.add(stem.capitalize() + rng.choice(endings))
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
        return _columns(parts)


def _guess_pos(word: str) -> str:
    if word in POS_LEXICON:
        return POS_LEXICON[word]
    if word.lower() in POS_LEXICON:
        return POS_LEXICON[word.lower()]
    if word[0].isdigit():
        return "CD"
    if word in DAYS or word in MONTHS:
        return "NNP"
    if word.endswith("ed"):
        return "VBD"
    if word.endswith("ing"):
        return "VBG"
    return "NNS" if word.endswith("s") and not word.endswith("ss") else "NN"


def _columns(parts: list[tuple[str, str | None]]) -> SyntheticSentence:
    """Expand entity strings into tokens with IOB1 tags (B- only right after an entity of the same type)."""
    tokens, pos, chunks, tags = [], [], [], []
    prev_kind: str | None = None
    for index, (text, kind) in enumerate(parts):
        words = text.split()
        if index == 0 and kind is None:
            words[0] = words[0][0].upper() + words[0][1:]
        for j, word in enumerate(words):
            tokens.append(word)
            if kind is None:
                tag = _guess_pos(word)
                pos.append(tag)
                chunks.append("O" if not word[0].isalnum() else _CHUNK_OF_POS.get(tag, _chunk_of(tag)))
                tags.append("O")
            else:
                pos.append(
                    "JJ" if kind == "MISC" and len(words) == 1 else ("IN" if word.islower() else "NNP")
                )
                chunks.append("I-NP")
                tags.append(f"B-{kind}" if j == 0 and prev_kind == kind else f"I-{kind}")
        prev_kind = kind
    return SyntheticSentence(tokens, pos, chunks, tags)


def _chunk_of(pos_tag: str) -> str:
    return "I-VP" if pos_tag.startswith("VB") else "I-NP"


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
    """Write the 4-column CoNLL-2003 format with a `-DOCSTART- -X- -X- O` line every `doc_size` sentences."""
    lines: list[str] = []
    for i, s in enumerate(sentences):
        if i % doc_size == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
        lines += [" ".join(cols) for cols in zip(s.tokens, s.pos, s.chunks, s.tags, strict=True)]
        lines.append("")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
