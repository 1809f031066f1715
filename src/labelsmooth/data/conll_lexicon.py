"""Word lists and clause templates of the synthetic CoNLL-2003 generator (`synthetic_conll`).

Kept apart from the generator so its logic fits on a screen. The generator's output depends on the exact
order of every list here (it draws from them with a seeded RNG): reordering, adding or removing a word
changes the data, so bump `synthetic_conll.GENERATOR_VERSION` with any edit.
"""

from __future__ import annotations


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
# Syllables of the invented company stems (Kentrax, Volaris, …).
STEM_ONSETS = _words("B C D F G K L M N P R S T V Z Br Tr Kr Pl St Gr")
STEM_VOWELS = _words("a e i o u")
STEM_ENDINGS = _words("x tron rix lis dex gen tel nova com plex sys on ia ar")
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
