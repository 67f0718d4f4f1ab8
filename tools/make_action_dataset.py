"""Dev script: (re)generate zone_ops/data/instructions.tsv, the ActionClassifier's labelled instructions.

Not used at run time: the pack ships the generated file. Deterministic (seeded): running it again rewrites the same
file. Usage: ``python tools/make_action_dataset.py [--out zone_ops/data/instructions.tsv]``.

How the split stays honest: every class has TEMPLATES and OBJECTS that occur only in the test split. Per class,
the test split holds a third "held-out template, seen objects", a third "seen template, held-out objects" and a
third "new combinations of seen templates and objects"; the train split only ever uses training templates with training objects. Exact duplicates
(case-insensitive) are dropped, and no test text occurs in train.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

SEED = 20240604
PER_CLASS_TRAIN = 300
PER_CLASS_TEST = 75

# ---------------------------------------------------------------- vocabulary: (train, test-only)
THINGS = (
    [
        "dog", "cat", "car", "bus", "bicycle", "motorcycle", "truck", "boat", "airplane", "train", "bench", "bird",
        "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "umbrella", "handbag", "suitcase",
        "frisbee", "kite", "skateboard", "surfboard", "bottle", "wine glass", "cup", "bowl", "banana", "apple",
        "sandwich", "orange", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table",
        "laptop", "tv", "keyboard", "cell phone", "microwave", "refrigerator", "book", "clock", "vase",
        "teddy bear", "traffic light", "fire hydrant", "stop sign", "backpack", "tennis racket", "lamp", "fence",
        "mirror", "pillow", "rug", "tree", "flower pot", "trash can", "mailbox", "knife", "fork", "spoon",
        "plate", "carrot", "cup of tea", "window", "door", "curtain", "painting", "poster", "sign", "street lamp",
        "bridge", "tent", "sailboat", "van", "taxi", "scooter", "helmet", "hat", "shoe", "sock", "jacket", "glove",
        "table lamp", "desk", "armchair", "stool", "sink", "oven", "bathtub", "towel", "toothbrush", "shopping bag",
        "wallet", "camera", "guitar", "drum", "balloon", "flag", "statue", "fountain", "rock", "log", "cloud",
        "moon", "sun", "bush", "flower", "leaf", "pumpkin", "watermelon", "egg", "bread", "cookie", "croissant",
        "coffee mug", "teapot", "jar", "box", "pencil", "notebook", "headphones", "watch", "ring", "necklace",
    ],
    [
        "toilet", "hair dryer", "sports ball", "baseball glove", "snowboard", "toaster", "parking meter",
        "scissors", "broccoli", "hot dog", "remote control", "computer mouse", "kettle", "bookshelf", "canoe",
        "tractor", "candle", "basket", "wheelbarrow", "piano",
    ],
)
PEOPLE = (
    ["man", "woman", "boy", "girl", "child", "old man", "old woman", "baby", "skier", "surfer",
     "tennis player", "little boy", "young woman"],
    ["police officer", "chef", "soldier", "bride", "cyclist", "toddler", "waiter"],
)
ANIMALS = (["dog", "cat", "horse", "bear", "giraffe", "cow", "sheep", "bird", "elephant"],
           ["zebra", "rabbit", "parrot", "goat", "puppy", "kitten"])
WEARABLES = (
    ["hat", "pair of sunglasses", "scarf", "crown", "necklace", "bow tie", "backpack", "helmet", "beard",
     "mustache", "pair of glasses", "red cap", "jacket", "tie", "wristwatch", "flower crown"],
    ["santa hat", "cowboy hat", "pair of earrings", "bandana", "monocle", "eye patch", "cape"],
)
HELD = (["umbrella", "balloon", "cup of coffee", "book", "bouquet of flowers", "kite", "tennis racket", "phone",
         "sign", "guitar"],
        ["lantern", "ice cream cone", "trophy", "torch"])
PLACES = (
    [("in the sky", "sky"), ("on the table", "table"), ("on the grass", "grass"), ("on the beach", "beach"),
     ("on the road", "road"), ("in the water", "water"), ("on the bed", "bed"), ("on the wall", "wall"),
     ("on the shelf", "shelf"), ("in the background", "background"), ("next to the car", "car"),
     ("on the couch", "couch"), ("in the field", "field"), ("on the sidewalk", "sidewalk"),
     ("on the plate", "plate"), ("by the window", "window")],
    [("on the roof", "roof"), ("in the snow", "snow"), ("on the counter", "counter"), ("in the garden", "garden"),
     ("on the bench", "bench"), ("on the dock", "dock")],
)
ADDABLES = (
    ["dog", "cat", "bird", "kite", "airplane", "boat", "vase of flowers", "cup", "apple", "umbrella", "bench",
     "lamp", "clock", "tree", "balloon", "rainbow", "moon", "cake", "bottle of wine", "teddy bear", "book",
     "bicycle", "horse", "car", "pizza", "candle", "painting", "potted plant", "snowman", "butterfly",
     "hot air balloon", "street lamp", "bowl of fruit", "laptop", "duck", "sailboat"],
    ["giraffe", "lighthouse", "helicopter", "sandcastle", "squirrel", "owl", "tent", "campfire", "fountain",
     "pumpkin", "swan", "windmill"],
)
COLORS = (
    ["red", "blue", "green", "yellow", "black", "white", "pink", "purple", "orange", "gray", "brown", "golden",
     "silver", "dark blue", "light green", "bright red"],
    ["turquoise", "maroon", "navy blue", "beige", "lavender", "crimson", "teal"],
)
MATERIALS = (
    ["wood", "marble", "glass", "gold", "metal", "stone", "plastic", "leather", "ice", "chocolate", "brick",
     "paper"],
    ["bronze", "lego bricks", "crystal", "clay", "velvet", "copper"],
)
SCENES = (
    ["winter", "night", "sunset", "autumn", "a rainy day", "a snowy day", "spring", "a foggy morning"],
    ["a stormy evening", "dawn", "summer"],
)
STYLES = (["a watercolor painting", "a cartoon", "a pencil sketch", "an oil painting", "a statue"],
          ["a mosaic", "a lego model", "a robot"])
FINISHES = (["paint job", "coat of paint", "color", "finish", "texture", "pattern"],
            ["glossy finish", "polka dot pattern", "striped pattern"])
COUNTABLE_PLURALS = {"person": "people", "man": "men", "woman": "women", "child": "children", "sheep": "sheep",
                     "bus": "buses", "knife": "knives", "glass": "glasses", "broccoli": "broccoli", "mouse": "mice"}

# ---------------------------------------------------------------- templates: (template, test-only?)
# Slots: {x} a thing or person in the picture, {a} an animal/person that gets something, {y} something new,
# {w} a wearable, {h} something held, {p} a place phrase, {c} a colour, {m} a material, {s} a scene, {st} a style,
# {f} a finish, {xs} plural of {x}. "{Y}" means "a/an {y}".
REMOVE = [
    ("remove the {x}", False), ("remove the {x} {p}", False), ("delete the {x}", False), ("erase the {x}", False),
    ("get rid of the {x}", False), ("take away the {x}", False), ("take the {x} out", False),
    ("take the {x} out of the picture", False), ("make the {x} disappear", False), ("make the {x} vanish", False),
    ("without the {x}", False), ("the same picture without the {x}", False), ("show the scene without the {x}", False),
    ("remove all the {xs}", False), ("no {xs}", False), ("there should be no {x}", False),
    ("get the {x} out of the image", False), ("clear the {x} away", False), ("eliminate the {x}", False),
    ("remove the {w} from the {a}", False), ("take off the {a}'s {w2}", False), ("remove the {a}'s {w2}", False),
    ("the {x} should be gone", False), ("i don't want the {x} in the picture", False), ("lose the {x}", False),
    ("cut the {x} out of the photo", False), ("wipe out the {x}", False), ("remove the {c} {x}", False),
    ("delete the {x} {p}", False), ("remove the {a}", False), ("get rid of the {a} {p}", False),
    ("make the {a} go away", False), ("the {x} has to go", False),
    ("can the {x} be removed?", False), ("erase every {x}", False), ("delete the {a} from the photo", False),
    ("crop out the {x}", False), ("make the picture free of {xs}", False), ("the {x} should not be there", False),
    ("hide the {x}", False), ("remove the {x} and fill in the background", False), ("i want the {x} removed", False),
    ("what if the {x} wasn't there?", False), ("the image without any {xs}", False), ("take the {w2} off the {a}", False),
    # test-only phrasings
    ("what would it look like without the {x}?", True), ("drop the {x}", True), ("leave out the {x}", True),
    ("the photo but with no {x}", True), ("i'd like the {x} gone", True), ("clear the {p2} of {xs}", True),
    ("wipe away the {x}", True), ("make the {x} go away", True), ("strip the {w2} off the {a}", True),
]
ADD = [
    ("add {Y}", False), ("add {Y} {p}", False), ("put {Y} {p}", False), ("place {Y} {p}", False),
    ("insert {Y} {p}", False), ("let there be {Y} {p}", False), ("let there be {Y}", False),
    ("there should be {Y} {p}", False), ("draw {Y} {p}", False), ("include {Y} {p}", False),
    ("give the {a} {W}", False), ("put {W} on the {a}", False), ("make the {a} wear {W}", False),
    ("have the {a} hold {H}", False), ("let the {a} hold {H}", False), ("give the {a} {H} to hold", False),
    ("add {W} to the {a}", False), ("make the {a} wear {W}", False), ("i want {Y} {p}", False),
    ("add some {ys} {p}", False), ("put a few {ys} {p}", False), ("add {Y} next to the {x}", False),
    ("place {Y} beside the {x}", False), ("add {Y} on top of the {x}", False), ("put {Y} behind the {x}", False),
    ("the {a} should be wearing {W}", False), ("dress the {a} in {W}", False), ("add another {y}", False),
    ("what if there was {Y} {p}?", False), ("include {Y} in the picture", False),
    ("bring {Y} into the scene", False), ("slip {Y} into the photo", False), ("add {Y} to the scene", False),
    ("can there be {Y} {p}?", False), ("show the {a} holding {H}", False), ("have the {a} wear {W}", False),
    ("i want to see {Y} {p}", False), ("what about adding {Y} {p}?", False), ("put {W} on the {a}'s head", False),
    ("hang {Y} on the wall", False), ("the {a} needs {W}", False), ("make {Y} appear {p}", False),
    ("let {Y} appear {p}", False), ("fill the {p2} with {ys}", False), ("bring {Y} into the picture", False),
    ("put {Y} into the image", False),
    # test-only phrasings
    ("how about {Y} {p}?", True), ("there needs to be {Y} {p}", True), ("sneak {Y} into the picture", True),
    ("have {Y} sitting {p}", True), ("let the {a} carry {H}", True), ("stick {Y} {p}", True),
    ("the {a} could use {W}", True), ("show {Y} flying {p}", True), ("let's see {Y} {p}", True),
]
CHANGE = [
    ("make the {x} {c}", False), ("turn the {x} {c}", False), ("change the {x} to {c}", False),
    ("change the color of the {x} to {c}", False), ("paint the {x} {c}", False), ("color the {x} {c}", False),
    ("replace the {x} with {Y}", False), ("swap the {x} for {Y}", False), ("turn the {x} into {Y}", False),
    ("change the {x} into {Y}", False), ("make the {x} out of {m}", False), ("make the {x} look like {m}", False),
    ("turn the {x} into {m}", False), ("give the {x} {C} {f}", False), ("give the {x} a {m} look", False),
    ("make it {s}", False), ("turn the scene into {s}", False), ("make the {a} look like {st}", False),
    ("transform the {x} into {Y}", False), ("convert the {x} into {Y}", False), ("recolor the {x} {c}", False),
    ("dye the {pp}'s hair {c}", False), ("make the {pp}'s shirt {c}", False), ("what if the {x} were {c}?", False),
    ("the {x} should be {c}", False), ("make the {x} {m}", False), ("exchange the {x} for {Y}", False),
    ("change the {a} into {Y}", False), ("make the sky look like {s}", False), ("switch the {x} with {Y}", False),
    ("turn the {a} into {st}", False), ("make the {x} look older", False), ("make the {a} smile", False),
    ("i want the {x} to be {c}", False), ("can the {x} be {c}?", False), ("make the {x} look like {Y}", False),
    ("have the {a} look like {st}", False), ("replace the {x} by {Y}", False), ("the {x} needs to be {c}", False),
    ("render the {x} as {st}", False), ("{Y} instead of the {x}", False), ("put {Y} in place of the {x}", False),
    ("make the season {s}", False), ("what about making the {x} {c}?", False), ("repaint the {x} in {c}", False),
    ("change the weather to {s}", False), ("the {x} in {c} instead", False), ("i prefer the {x} {c}", False),
    ("the {x} would look better in {c}", False), ("i want it to be {s}", False), ("let it be {s}", False),
    ("same picture, but the {x} is {c}", False),
    # test-only phrasings
    ("how about making the {x} {c}?", True), ("i'd like the {x} in {c}", True), ("have the {x} be made of {m}", True),
    ("use {Y} instead of the {x}", True), ("let the {x} be {c}", True), ("it should be {s}", True),
    ("give the {pp} {C} hair color", True), ("show the {x} as {st}", True), ("the {x} but {c}", True),
    ("put {Y} where the {x} is", True),
]

POLITE_PREFIX = ["", "", "", "", "please ", "could you ", "can you ", "would you ", "i want you to ", "i'd like you to ",
                 "kindly ", "go ahead and ", "try to ", "now ", "ok, ", "hey, "]
QUESTION_PREFIX = ("could you ", "can you ", "would you ")
POLITE_SUFFIX = ["", "", "", ".", ".", "!", " please", ", thanks", " in this photo", " in the image"]


def article(word: str) -> str:
    return ("an " if word[0] in "aeiou" and not word.startswith("one") else "a ") + word


def plural(word: str) -> str:
    head, _, last = word.rpartition(" ")
    if last in COUNTABLE_PLURALS:
        p = COUNTABLE_PLURALS[last]
    elif last.endswith(("s", "sh", "ch", "x")):
        p = last + "es"
    elif last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        p = last[:-1] + "ies"
    else:
        p = last + "s"
    return (head + " " + p) if head else p


def pick(rng: random.Random, pool: tuple[list, list], held_out: bool) -> object:
    """A word from the test-only list when held_out, else from the train list."""
    return rng.choice(pool[1] if held_out else pool[0])


def fill(template: str, rng: random.Random, held: bool) -> str:
    """Fill the slots of ``template``; ``held`` draws objects from the test-only vocabularies."""
    x = pick(rng, THINGS, held) if rng.random() < 0.8 else pick(rng, PEOPLE, held)
    a = pick(rng, PEOPLE, held) if rng.random() < 0.65 else pick(rng, ANIMALS, held)
    y = pick(rng, ADDABLES, held)
    while y == x:
        y = pick(rng, ADDABLES, held)
    w = pick(rng, WEARABLES, held)
    w2 = re.sub(r"^(pair of )", "", w)
    if w2 != w:
        w2 = plural(w2) if not w2.endswith("s") else w2
    h = pick(rng, HELD, held)
    p, p2 = pick(rng, PLACES, held)
    c = pick(rng, COLORS, held)
    slots = {
        "x": x, "xs": plural(x), "a": a, "pp": pick(rng, PEOPLE, held), "y": y, "ys": plural(y), "Y": article(y), "w": w, "w2": w2,
        "W": article(w), "h": h, "H": article(h), "p": p, "p2": p2, "c": c, "C": article(c),
        "m": pick(rng, MATERIALS, held), "s": pick(rng, SCENES, held), "st": pick(rng, STYLES, held),
        "f": pick(rng, FINISHES, held),
    }
    return template.format(**slots)


def decorate(text: str, rng: random.Random) -> str:
    """Politeness, punctuation and letter case, as people type them."""
    imperative = not text.startswith(("the ", "i ", "i'd", "what", "how", "no ", "without", "there", "it ",
                                      "let", "show", "the same"))
    if imperative and not text.endswith("?"):
        prefix = rng.choice(POLITE_PREFIX)
        text = prefix + text
        if prefix in QUESTION_PREFIX:
            text += rng.choice(["?", "?", " please?", ""])
        else:
            suffixes = [x for x in POLITE_SUFFIX if not (x.strip() == "please" and "please" in prefix)]
            if re.search(r"picture|image|photo", text):
                suffixes = [x for x in suffixes if not x.startswith(" in ")]
            text += rng.choice(suffixes)
    elif not text.endswith("?"):
        text += rng.choice(["", ".", "!"])
    r = rng.random()
    if r < 0.55:
        text = text[0].upper() + text[1:]
    elif r < 0.62:
        text = text.upper()
    elif r < 0.67:
        text = text.title()
    text = re.sub(r"\bi\b", "I", text) if text[:1].isupper() and not text.isupper() else text
    return text


def generate(templates: list[tuple[str, bool]], n_train: int, n_test: int, rng: random.Random,
             seen: set[str]) -> tuple[list[str], list[str]]:
    train_t = [t for t, held in templates if not held]
    test_t = [t for t, held in templates if held]
    train, test = [], []

    def draw(pool: list[str], held_obj: bool, out: list[str], want: int) -> None:
        tries = 0
        while len(out) < want and tries < want * 200:
            tries += 1
            text = decorate(fill(rng.choice(pool), rng, held_obj), rng)
            key = re.sub(r"[^a-z' ]", "", text.lower()).strip()
            if key not in seen:
                seen.add(key)
                out.append(text)

    # Balance the training templates: round-robin over them, so each is used about equally often.
    per = -(-n_train // len(train_t))
    for t in train_t:
        draw([t], False, train, min(n_train, len(train) + per))
    third = n_test // 3
    draw(test_t, False, test, third)                  # unseen phrasing, seen objects
    draw(train_t, True, test, 2 * third)              # seen phrasing, unseen objects
    draw(train_t, False, test, n_test)                # seen phrasing and objects, new combinations
    return train[:n_train], test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "zone_ops/data/instructions.tsv"))
    args = parser.parse_args()
    rng = random.Random(SEED)
    seen: set[str] = set()
    rows = []
    for label, templates in (("change", CHANGE), ("add", ADD), ("remove", REMOVE)):
        train, test = generate(templates, PER_CLASS_TRAIN, PER_CLASS_TEST, rng, seen)
        rows += [(t, label, "train") for t in train] + [(t, label, "test") for t in test]
    rng.shuffle(rows)
    rows.sort(key=lambda r: r[2] != "train")  # train rows first, stable within a split
    lines = ["text\tlabel\tsplit"] + [f"{t}\t{lab}\t{s}" for t, lab, s in rows]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = {}
    for _, lab, s in rows:
        counts[(s, lab)] = counts.get((s, lab), 0) + 1
    print(f"wrote {len(rows)} instructions to {args.out}: {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
