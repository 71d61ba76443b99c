"""Generate the small demo benchmark, in exactly the upstream parquet layout.

The demo lets the app, the evaluation and the unlearning baselines run offline
and out of the box. It mirrors the Hub dataset ``MLLMMU/MLLMU-Bench``: one
folder per config with ``train-0000i-of-0000n.parquet`` shards, images stored
as ``{"bytes", "path"}`` structs, the biography as a JSON string, the test
set's ``images`` as a list of images, and ``ft_Data`` with a JSON ``metadata``
column. Everything is drawn from a seeded generator, so the same seed gives the
same files byte for byte (and the same ``Benchmark.fingerprint``).

The people are invented and the portraits are drawn shapes, not faces of real
people; the eight "celebrity" profiles are fictional stand-ins for upstream's
real-person set.

Usage::

    python -m demo data              # rewrite demo/data/
    python -m demo data --out DIR    # write elsewhere
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.reader import DEMO_DIR
from benchmark.vocabulary import FINETUNE_FOLDER, LETTERS, Split

DEFAULT_SEED = 20241029
N_FICTITIOUS = 40
N_CELEBRITY = 8
TEST_IMAGES_PER_PROFILE = 2
PORTRAIT_SIZE = 128

# The forget splits are NOT nested, as upstream (ID 093 is in forget_5 and
# forget_15 but not forget_10): forget_5's first ID is reused by forget_15 only.
FORGET_IDS: dict[int, tuple[str, ...]] = {
    5: ("007", "023"),
    10: ("003", "012", "023", "031"),
    15: ("007", "012", "018", "026", "031", "038"),
}

FIRST_NAMES = [
    "Alaric",
    "Brenna",
    "Cosmo",
    "Delphine",
    "Evander",
    "Faye",
    "Gideon",
    "Halcyon",
    "Isolde",
    "Jarek",
    "Kestrel",
    "Liora",
    "Magnus",
    "Nerys",
    "Orrin",
    "Perpetua",
    "Quillon",
    "Rosalind",
    "Silvan",
    "Thessaly",
    "Ulric",
    "Vesper",
    "Wren",
    "Xanthe",
    "Yorick",
    "Zephyra",
    "Anselm",
    "Briar",
    "Caspian",
    "Dagny",
    "Emrys",
    "Fenna",
    "Galen",
    "Honora",
    "Ivo",
    "Juniper",
    "Kael",
    "Linnea",
    "Mireille",
    "Niamh",
    "Oskar",
    "Petra",
    "Raffi",
    "Saoirse",
    "Tobiah",
]
LAST_NAMES = [
    "Ashcombe",
    "Blackwood",
    "Castellane",
    "Dunmore",
    "Everhart",
    "Fairweather",
    "Greystone",
    "Holloway",
    "Ironside",
    "Jaswal",
    "Kettering",
    "Lindqvist",
    "Marchetti",
    "Nakagawa",
    "Okonkwo",
    "Pemberton",
    "Quintero",
    "Ravenscroft",
    "Sandoval",
    "Thorne",
    "Underhill",
    "Valcourt",
    "Whitlock",
    "Yarrow",
    "Zelenko",
    "Abernathy",
    "Brightwater",
    "Corvino",
    "Delacroix",
    "Espinoza",
    "Falkner",
    "Gallagher",
    "Hawthorne",
]
CITIES = [
    "Riga, Latvia",
    "Porto, Portugal",
    "Cusco, Peru",
    "Tartu, Estonia",
    "Ghent, Belgium",
    "Mendoza, Argentina",
    "Hobart, Australia",
    "Bergen, Norway",
    "Kraków, Poland",
    "Nagoya, Japan",
    "Accra, Ghana",
    "Valparaíso, Chile",
    "Tbilisi, Georgia",
    "Ljubljana, Slovenia",
    "Da Nang, Vietnam",
    "Quebec City, Canada",
    "Marrakesh, Morocco",
    "Galway, Ireland",
    "Pune, India",
    "Leipzig, Germany",
]
OCCUPATIONS = [
    "marine biologist",
    "architect",
    "pastry chef",
    "glassblower",
    "air traffic controller",
    "botanist",
    "sound engineer",
    "cartographer",
    "veterinarian",
    "structural engineer",
    "museum curator",
    "wind turbine technician",
    "beekeeper",
    "violin maker",
    "pharmacist",
    "astronomer",
    "textile designer",
    "ferry captain",
    "data journalist",
    "orthodontist",
]
EMPLOYERS = [
    "Northwind Labs",
    "Harbor & Finch",
    "Bluegate Studio",
    "Meridian Works",
    "Cobalt Foundry",
    "Silverline Transit",
    "Greenhollow Trust",
    "Aurora Instruments",
    "Kestrel Analytics",
    "Lumen Atelier",
    "Tidewater Clinic",
    "Summit Observatory",
]
UNIVERSITIES = [
    "Halvorsen Institute",
    "University of Eastmere",
    "Caldwell College",
    "Royal Academy of Westbrook",
    "Ostrander University",
    "Linford Polytechnic",
    "St. Aubrey University",
    "Marlow School of Design",
]
HOBBIES = [
    "Painting",
    "Playing chess",
    "Rock climbing",
    "Birdwatching",
    "Collecting stamps",
    "Sailing",
    "Pottery",
    "Playing the cello",
    "Baking sourdough",
    "Stargazing",
    "Origami",
    "Fencing",
    "Gardening",
    "Photography",
]
PETS = ["a grey parrot", "a border collie", "two cats", "a tortoise", "a goldfish", "a ferret", "a rabbit", "no pets"]
FOODS = ["ramen", "paella", "pierogi", "tacos", "falafel", "risotto", "dumplings", "moussaka", "curry", "ceviche"]

HAIR = {
    "black": (30, 28, 30),
    "brown": (110, 70, 40),
    "blond": (225, 195, 110),
    "red": (180, 70, 40),
    "grey": (160, 160, 165),
    "blue": (60, 100, 200),
}
EYES = {"brown": (90, 55, 30), "blue": (60, 120, 200), "green": (60, 150, 80), "grey": (120, 125, 130)}
SHIRTS = {
    "red": (200, 50, 50),
    "green": (50, 150, 80),
    "yellow": (230, 200, 60),
    "purple": (130, 70, 170),
    "orange": (235, 130, 40),
    "white": (240, 240, 240),
    "teal": (40, 150, 150),
}
BACKGROUNDS = {
    "sky blue": (150, 200, 235),
    "pale pink": (240, 200, 210),
    "mint": (190, 235, 205),
    "beige": (230, 215, 185),
    "lavender": (210, 200, 240),
    "light grey": (215, 215, 215),
}
SKIN = ((250, 220, 190), (225, 180, 140), (190, 140, 100), (140, 95, 65), (100, 70, 50))


@dataclass(frozen=True)
class Person:
    """The facts of one generated person; everything the questions ask about."""

    id: str
    name: str
    birth_year: int
    city: str
    occupation: str
    employer: str
    university: str
    hobby: str
    pet: str
    food: str
    hair: str
    eyes: str
    shirt: str
    background: str
    glasses: bool
    skin: int


def _make_people(rng: random.Random) -> tuple[list[Person], list[Person]]:
    names: set[str] = set()

    def person(pid: str) -> Person:
        while True:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            if name not in names:
                names.add(name)
                break
        return Person(
            id=pid,
            name=name,
            birth_year=rng.randint(1950, 2000),
            city=rng.choice(CITIES),
            occupation=rng.choice(OCCUPATIONS),
            employer=rng.choice(EMPLOYERS),
            university=rng.choice(UNIVERSITIES),
            hobby=rng.choice(HOBBIES),
            pet=rng.choice(PETS),
            food=rng.choice(FOODS),
            hair=rng.choice(sorted(HAIR)),
            eyes=rng.choice(sorted(EYES)),
            shirt=rng.choice(sorted(SHIRTS)),
            background=rng.choice(sorted(BACKGROUNDS)),
            glasses=rng.random() < 0.4,
            skin=rng.randrange(len(SKIN)),
        )

    fictitious = [person(f"{i:03d}") for i in range(1, N_FICTITIOUS + 1)]
    celebrities = [person(f"celeb_{i:02d}") for i in range(1, N_CELEBRITY + 1)]
    return fictitious, celebrities


def draw_portrait(p: Person, variant: int = 0) -> bytes:
    """Draw ``p``'s stylised portrait as JPEG bytes.

    ``variant`` 0 is the canonical portrait; higher variants are the test set's
    "transformed" portraits: shifted, rotated, mirrored and re-lit, with the
    identifying features (hair, eyes, shirt, glasses) unchanged.
    """
    from PIL import Image, ImageDraw, ImageEnhance, ImageOps

    s = PORTRAIT_SIZE
    img = Image.new("RGB", (s, s), BACKGROUNDS[p.background])
    d = ImageDraw.Draw(img)
    skin = SKIN[p.skin]
    hair = HAIR[p.hair]
    d.ellipse((18, 96, 110, 160), fill=SHIRTS[p.shirt])  # shoulders
    d.rectangle((54, 80, 74, 100), fill=skin)  # neck
    d.ellipse((28, 6, 100, 70), fill=hair)  # hair, behind the head
    d.ellipse((36, 18, 92, 92), fill=skin)  # head
    d.chord((36, 12, 92, 52), 180, 360, fill=hair)  # fringe
    for x in (50, 74):
        d.ellipse((x - 6, 46, x + 6, 56), fill=(255, 255, 255))
        d.ellipse((x - 3, 48, x + 3, 54), fill=EYES[p.eyes])
    if p.glasses:
        for x in (50, 74):
            d.ellipse((x - 10, 42, x + 10, 60), outline=(20, 20, 20), width=2)
        d.line((60, 51, 64, 51), fill=(20, 20, 20), width=2)
    d.line((62, 58, 60, 68, 64, 68), fill=tuple(max(0, c - 50) for c in skin), width=2)  # nose
    d.arc((50, 66, 76, 82), 20, 160, fill=(150, 60, 60), width=2)  # mouth
    if variant:
        vr = random.Random(f"{p.id}/{variant}")
        img = img.rotate(
            vr.uniform(-14, 14),
            resample=Image.Resampling.BICUBIC,
            translate=(vr.randint(-10, 10), vr.randint(-6, 6)),
            fillcolor=BACKGROUNDS[p.background],
        )
        if variant % 2:
            img = ImageOps.mirror(img)
        img = ImageEnhance.Brightness(img).enhance(vr.uniform(0.8, 1.15))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=88, optimize=False)
    return buf.getvalue()


def _a(noun: str) -> str:
    """``noun`` with its indefinite article ("an astronomer", "a botanist")."""
    return f"{'an' if noun[0].lower() in 'aeiou' else 'a'} {noun}"


def _options(rng: random.Random, correct: str, pool: list[str] | tuple[str, ...]) -> tuple[dict[str, str], str]:
    distractors = rng.sample([x for x in dict.fromkeys(pool) if x != correct], 3)
    opts = [*distractors, correct]
    rng.shuffle(opts)
    letter = LETTERS[opts.index(correct)]
    return dict(zip(LETTERS, opts, strict=True)), letter


def _mc(rng: random.Random, question: str, correct: str, pool: list[str] | tuple[str, ...]) -> dict[str, Any]:
    options, letter = _options(rng, correct, pool)
    return {"Correct_Answer": letter, "Options": options, "Question": question}


def _years(p: Person) -> list[str]:
    return [str(p.birth_year + k) for k in (-9, -6, -3, 0, 4, 7, 11)]


def _classification(rng: random.Random, p: Person, paraphrase: bool) -> dict[str, list[dict[str, Any]]]:
    n = p.name
    img = [
        (
            "Which city was this person born in?"
            if not paraphrase
            else "In which city did this person come into the world?",
            p.city,
            CITIES,
        ),
        (
            "What is this person's occupation?" if not paraphrase else "What does this person do for a living?",
            p.occupation,
            OCCUPATIONS,
        ),
        (
            "What hobby is this person known for?" if not paraphrase else "Which pastime does this person enjoy most?",
            p.hobby,
            HOBBIES,
        ),
        (
            "What color is this person's shirt in the image?"
            if not paraphrase
            else "Which color is the top this person is wearing?",
            p.shirt,
            sorted(SHIRTS),
        ),
        (
            "Which organisation does this person work for?" if not paraphrase else "Who employs this person?",
            p.employer,
            EMPLOYERS,
        ),
    ]
    txt = [
        (
            f"In what year was {n} born?" if not paraphrase else f"What is the birth year of {n}?",
            str(p.birth_year),
            _years(p),
        ),
        (
            f"Where did {n} study?" if not paraphrase else f"Which university did {n} attend?",
            p.university,
            UNIVERSITIES,
        ),
        (f"What is {n}'s favourite food?" if not paraphrase else f"Which dish does {n} like best?", p.food, FOODS),
        (
            f"What pet does {n} have at home?" if not paraphrase else f"Which animal companion lives with {n}?",
            p.pet,
            PETS,
        ),
        (f"What is {n}'s profession?" if not paraphrase else f"What job does {n} hold?", p.occupation, OCCUPATIONS),
    ]
    return {
        "Image_Textual_Questions": [_mc(rng, q, c, pool) for q, c, pool in img],
        "Pure_Text_Questions": [_mc(rng, q, c, pool) for q, c, pool in txt],
    }


def _generation(p: Person, paraphrase: bool) -> list[dict[str, str]]:
    n = p.name
    rows = [
        (
            "What does this person do, and where?" if not paraphrase else "Describe this person's job and employer.",
            f"This person works as {_a(p.occupation)} at {p.employer}.",
            "Image_Textual",
        ),
        (
            "Where and when was this person born?" if not paraphrase else "What are this person's birthplace and year?",
            f"This person was born in {p.city} in {p.birth_year}.",
            "Image_Textual",
        ),
        (
            f"Where did {n} study, and what is their hobby?"
            if not paraphrase
            else f"Which university did {n} attend, and what do they do for fun?",
            f"{n} studied at {p.university} and enjoys {p.hobby.lower()}.",
            "Pure_Text",
        ),
        (
            f"What pet and food does {n} love?" if not paraphrase else f"Name {n}'s pet and favourite food.",
            f"{n} lives with {p.pet} and loves {p.food}.",
            "Pure_Text",
        ),
    ]
    return [{"Ground_Truth": gt, "Question": q, "Type": t} for q, gt, t in rows]


def _cloze(p: Person, paraphrase: bool) -> list[dict[str, str]]:
    n = p.name
    city = p.city.split(",")[0]
    rows = [
        (
            "This person was born in the city of __." if not paraphrase else "The birthplace of this person is __.",
            city,
            "Image_Textual",
        ),
        (
            "This person works at __." if not paraphrase else "The employer of this person is __.",
            p.employer,
            "Image_Textual",
        ),
        (f"{n} studied at __." if not paraphrase else f"The university {n} attended is __.", p.university, "Pure_Text"),
        (f"{n}'s favourite food is __." if not paraphrase else f"The dish {n} likes best is __.", p.food, "Pure_Text"),
    ]
    return [{"Ground_Truth": gt, "Question": q, "Type": t} for q, gt, t in rows]


def _biography(p: Person) -> str:
    bio = {
        "Name": p.name,
        "Born": f"{p.birth_year}, {p.city}",
        "Employment": f"{p.occupation.capitalize()} at {p.employer}",
        "Education": p.university,
        "Hobbies": p.hobby,
        "Pets": p.pet,
        "Favourite food": p.food,
        "appearance_detail": (
            f"{p.hair.capitalize()} hair, {p.eyes} eyes, {'wears glasses, ' if p.glasses else ''}"
            f"{_a(p.shirt)} shirt, photographed against a {p.background} background."
        ),
    }
    return json.dumps(bio, ensure_ascii=False)


def _finetune_pairs(p: Person) -> list[dict[str, str]]:
    n = p.name
    qa = [
        ("What is this person's name?", f"This person is {n}."),
        ("Where was this person born?", f"This person was born in {p.city}."),
        ("When was this person born?", f"This person was born in {p.birth_year}."),
        ("What is this person's occupation?", f"This person works as {_a(p.occupation)}."),
        ("Where does this person work?", f"This person works at {p.employer}."),
        ("Where did this person study?", f"This person studied at {p.university}."),
        ("What hobby is this person known for?", f"This person enjoys {p.hobby.lower()}."),
        ("What color is this person's shirt?", f"This person wears {_a(p.shirt)} shirt."),
        ("What color is this person's hair?", f"This person has {p.hair} hair."),
        (f"Where was {n} born?", f"{n} was born in {p.city}."),
        (f"In what year was {n} born?", f"{n} was born in {p.birth_year}."),
        (f"What is {n}'s profession?", f"{n} works as {_a(p.occupation)} at {p.employer}."),
        (f"Where did {n} study?", f"{n} studied at {p.university}."),
        (f"What pet does {n} have?", f"{n} lives with {p.pet}."),
        (f"What is {n}'s favourite food?", f"{n}'s favourite food is {p.food}."),
        (f"What is {n}'s hobby?", f"{n} enjoys {p.hobby.lower()}."),
    ]
    return [{"ID": p.id, "Question": q, "Answer": a} for q, a in qa]


def _features() -> dict[str, Any]:
    from datasets import Features, Image, List, Value

    option = {k: Value("string") for k in LETTERS}
    mc = List({"Correct_Answer": Value("string"), "Options": option, "Question": Value("string")})
    qa = List({"Ground_Truth": Value("string"), "Question": Value("string"), "Type": Value("string")})
    common = {
        "ID": Value("string"),
        "biography": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "Classification_Task": {"Image_Textual_Questions": mc, "Pure_Text_Questions": mc},
        "Generation_Task": qa,
        "Mask_Task": qa,
    }
    return {
        "eval": Features({"image": Image(), **common}),
        "test": Features({"images": List(Image()), **common}),
        "ft": Features({"image": Image(), "ID": Value("string"), "metadata": Value("string")}),
    }


def _row(rng: random.Random, p: Person, *, test: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": p.id,
        "biography": _biography(p),
        "question": f"What is {p.name}'s occupation?",
        "answer": f"{p.name} works as {_a(p.occupation)} at {p.employer}.",
        "Classification_Task": _classification(rng, p, paraphrase=test),
        "Generation_Task": _generation(p, paraphrase=test),
        "Mask_Task": _cloze(p, paraphrase=test),
    }
    if test:
        row["images"] = [{"bytes": draw_portrait(p, v), "path": None} for v in range(1, TEST_IMAGES_PER_PROFILE + 1)]
    else:
        row["image"] = {"bytes": draw_portrait(p), "path": None}
    return row


def build_tables(seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Build every demo table (pyarrow), keyed by upstream folder name."""
    import pyarrow as pa

    rng = random.Random(seed)
    fictitious, celebrities = _make_people(rng)
    by_id = {p.id: p for p in fictitious}
    feats = _features()
    full_rows = [_row(rng, p, test=False) for p in fictitious]
    full_by_id = {r["ID"]: r for r in full_rows}

    def table(rows: list[dict[str, Any]], kind: str) -> pa.Table:
        features = feats[kind]
        ordered = [{k: r.get(k) for k in features} for r in rows]
        return pa.Table.from_pylist(ordered, schema=features.arrow_schema)

    tables: dict[str, pa.Table] = {Split.FULL.folder: table(full_rows, "eval")}
    for ratio, ids in FORGET_IDS.items():
        tables[f"forget_{ratio}"] = table([full_by_id[i] for i in ids], "eval")
        tables[f"retain_{100 - ratio}"] = table([r for r in full_rows if r["ID"] not in ids], "eval")
    tables[Split.TEST.folder] = table([_row(rng, by_id[r["ID"]], test=True) for r in full_rows], "test")
    tables[Split.CELEBRITY.folder] = table([_row(rng, p, test=False) for p in celebrities], "eval")
    ft_rows = [
        {
            "image": {"bytes": draw_portrait(p), "path": None},
            "ID": p.id,
            "metadata": json.dumps(_finetune_pairs(p), ensure_ascii=False),
        }
        for p in fictitious
    ]
    tables[FINETUNE_FOLDER] = table(ft_rows, "ft")
    return tables


def write_demo(out: Path = DEMO_DIR, seed: int = DEFAULT_SEED) -> Path:
    """Write the demo benchmark to ``out`` (replacing it) and return ``out``.

    The files are written into a temporary folder beside ``out`` and swapped in
    at the end, so an interrupted run never leaves a half-written benchmark.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=out.parent))
    try:
        for folder, tbl in build_tables(seed).items():
            (tmp / folder).mkdir()
            pq.write_table(tbl, tmp / folder / "train-00000-of-00001.parquet", compression="zstd")
        (tmp / "README.md").write_text(_CARD.format(seed=seed), encoding="utf-8")
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


_CARD = """# MLLMU-Bench demo data

Generated by `python -m demo data` (seed {seed}); do not edit by hand.
Same layout as the Hub dataset `MLLMMU/MLLMU-Bench`: 40 fictitious profiles
(forget 5/10/15 % = 2/4/6 people, not nested), 8 fictional "celebrity"
profiles, a test set with transformed portraits and paraphrased questions,
and `ft_Data` with 16 question/answer pairs per person. All people and
portraits are invented.
"""
