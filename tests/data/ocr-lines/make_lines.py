#!/usr/bin/python3
"""Generate the ``ocr-lines`` test set: 500 rendered single text lines for tiny-ocr.

What it makes
    ``000.png`` ... ``499.png`` (8-bit RGB PNG, one printed text line each) and
    ``labels.tsv`` (``file<TAB>text`` per line, in file order) in the folder that holds
    this script. The label is the exact string the generator drew; no line is selected,
    filtered or relabelled by any model's output, and every generated line is kept.

Recipe
    It follows the "Charset" and "Training recipe" sections of the README of the
    tiny-ocr model (shared/models/tiny-ocr/README.md), i.e. the model's training
    distribution (like the README's "held-out (seed 777)" set):

    * charset (78 chars) ``0-9 A-Z a-z``, space and ``.,-:/()'!?&#%+=``; lines of
      1-16 characters with no leading, trailing or double spaces;
    * text: 55% random strings over the full charset or a sub-pool (digits+punctuation,
      upper+digits, lower, ...), 45% structured lines (invoice/business words and
      pseudo-words, dates, prices, percentages, ids, times, short punctuated phrases);
    * rendering with PIL: DejaVuSans / DejaVuSansMono / DejaVuSerif
      (/usr/share/fonts/truetype/dejavu, Debian package fonts-dejavu-core), size
      16-28 px; canvas height = line height (ascent + descent from
      ``font.getmetrics()``) + 0-0.35 x size padding above and below; left/right
      margins 0-0.6 x size; the box is at least 1.5-3.5 x its height wide (when the text
      is narrower, the extra width mostly goes to the right: short text is mostly
      left-aligned); text gray 0-80 on a background gray 200-255; Gaussian gray noise
      with sigma 0-8 (one value per pixel, the same on R, G and B); saved as RGB PNG.

Seed
    ``random.Random(2026)`` (no NumPy). 2026 is distinct from every seed the README
    names: 1234 (training), 777 / 778 (held-out and outside sets), 779 (100-line ved
    comparison), 4242 (samples).

Rerun
    From the repository root: ``/usr/bin/python3 tests/data/ocr-lines/make_lines.py``
    regenerates the files identically (Debian python3-pil and fonts-dejavu-core; the
    output depends only on the seed, PIL/FreeType's glyph rasterisation and zlib).
"""

import math
import os
import random
import string
import sys

from PIL import Image, ImageDraw, ImageFont

SEED = 2026
N_LINES = 500
MAX_LEN = 16

PUNCT = ".,-:/()'!?&#%+="
CHARSET = string.digits + string.ascii_uppercase + string.ascii_lowercase + " " + PUNCT
assert len(CHARSET) == 78

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_NAMES = ("DejaVuSans", "DejaVuSansMono", "DejaVuSerif")
SIZE_MIN, SIZE_MAX = 16, 28

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# text generation
# ---------------------------------------------------------------------------

# Sub-pools for the random strings (55% of the lines).
POOLS = [
    ("full", CHARSET, 4),
    ("digits+punct", string.digits + PUNCT, 2),
    ("upper+digits", string.ascii_uppercase + string.digits, 2),
    ("lower", string.ascii_lowercase, 2),
    ("upper", string.ascii_uppercase, 1),
    ("letters", string.ascii_letters, 1),
    ("lower+digits", string.ascii_lowercase + string.digits, 1),
    ("alnum", string.ascii_letters + string.digits, 1),
    ("alnum+punct", string.ascii_letters + string.digits + PUNCT, 1),
    ("digits", string.digits, 1),
]

WORDS = [
    "Invoice", "Total", "Subtotal", "Date", "Due", "Qty", "Amount", "Price", "Unit",
    "Tax", "VAT", "Net", "Gross", "Order", "Item", "Items", "Customer", "Client",
    "Page", "Ref", "No", "Discount", "Payment", "Paid", "Balance", "Account", "Bank",
    "Phone", "Fax", "Email", "Address", "Street", "City", "Shipping", "Delivery",
    "Receipt", "Cash", "Card", "Change", "Sum", "Fee", "Rate", "Hours", "Week",
    "Month", "Year", "Name", "Code", "Number", "Product", "Service", "Store",
    "Company", "Office", "Sales", "Bill", "Credit", "Debit", "Refund", "Return",
    "Hello", "world", "tiny", "OCR", "text", "line", "off", "free", "new", "sale",
    "pcs", "kg", "box", "per", "and", "for", "from", "to", "the", "of", "thank",
    "you", "please", "pay", "within", "days", "only", "each", "order", "note",
    "Ltd", "Inc", "GmbH", "Co", "Corp", "Dept", "Attn", "Terms", "Cheque",
]
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "JPY", "SEK"]
UNITS = ["pcs", "kg", "g", "m", "cm", "h", "min", "l", "box", "pc"]
ID_PREFIXES = ["INV", "ORD", "REF", "PO", "ID", "NO", "SKU", "CUST", "ACC", "TX", "RE", "DN"]
LABELS = ["Total", "Subtotal", "Tax", "VAT", "Net", "Due", "Amount", "Price", "Sum",
          "Balance", "Fee", "Paid", "Change", "Cash", "Discount", "Date", "Time",
          "Qty", "Page", "Ref", "Order", "Item", "Rate"]
PHRASES = [
    "Hello, world!", "Q&A", "A+B=C", "tiny OCR", "Thank you!", "Thanks!",
    "What's new?", "Paid in full.", "R&D", "P&L", "T&C", "Yes/No", "N/A", "n/a",
    "See above.", "Not paid!", "Why not?", "OK", "Sold out!", "Buy now!", "Sign here:",
    "Don't fold!", "It's free!", "Call us!", "(optional)", "(see below)", "Page 1",
    "Best price!", "Open 24/7", "2-for-1", "All in!", "Let's go!", "Fragile!",
    "Keep dry.", "This way up", "Handle with care",
]
CONSONANTS = "bcdfghjklmnprstvwxz"
VOWELS = "aeiou"


def case_variant(rng, word):
    r = rng.random()
    if r < 0.55:
        return word
    if r < 0.75:
        return word.lower()
    if r < 0.9:
        return word.upper()
    return word[:1].upper() + word[1:].lower()


def pseudo_word(rng):
    n = rng.randint(1, 4)
    s = ""
    for _ in range(n):
        if rng.random() < 0.8:
            s += rng.choice(CONSONANTS)
        s += rng.choice(VOWELS)
        if rng.random() < 0.3:
            s += rng.choice(CONSONANTS)
    r = rng.random()
    if r < 0.3:
        s = s.capitalize()
    elif r < 0.4:
        s = s.upper()
    return s


def word(rng):
    if rng.random() < 0.7:
        return case_variant(rng, rng.choice(WORDS))
    return pseudo_word(rng)


def money(rng):
    """An amount like 19.99, 1,250.00, 7, 0.5 or 12.50."""
    mag = rng.choice([1, 2, 2, 3, 3, 4, 5])
    whole = rng.randint(0 if mag == 1 else 10 ** (mag - 1), 10 ** mag - 1)
    r = rng.random()
    if r < 0.7:
        cents = ".%02d" % rng.randint(0, 99)
    elif r < 0.8:
        cents = ",%02d" % rng.randint(0, 99)
        return str(whole) + cents  # European decimal comma, no grouping
    elif r < 0.9:
        cents = ".%d" % rng.randint(0, 9)
    else:
        cents = ""
    if whole >= 1000 and rng.random() < 0.6:
        return "{:,}".format(whole) + cents
    return str(whole) + cents


def gen_date(rng):
    y = rng.randint(1990, 2035)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    fmt = rng.choice(["dmy/", "mdy/", "dmy.", "dmy2.", "ymd-", "dmy-", "dmy2/", "d.m.y"])
    if fmt == "dmy/":
        s = "%02d/%02d/%04d" % (d, m, y)
    elif fmt == "mdy/":
        s = "%02d/%02d/%04d" % (m, d, y)
    elif fmt == "dmy.":
        s = "%02d.%02d.%04d" % (d, m, y)
    elif fmt == "dmy2.":
        s = "%02d.%02d.%02d" % (d, m, y % 100)
    elif fmt == "ymd-":
        s = "%04d-%02d-%02d" % (y, m, d)
    elif fmt == "dmy-":
        s = "%02d-%02d-%04d" % (d, m, y)
    elif fmt == "dmy2/":
        s = "%d/%d/%02d" % (m, d, y % 100)
    else:
        s = "%d.%d.%04d" % (d, m, y)
    r = rng.random()
    if r < 0.25:
        s = rng.choice(["Date: ", "Due: ", "Date ", "Due ", "On "]) + s
    return s


def gen_price(rng):
    a = money(rng)
    r = rng.random()
    if r < 0.3:
        return a
    if r < 0.5:
        return rng.choice(CURRENCIES) + " " + a
    if r < 0.6:
        return a + " " + rng.choice(CURRENCIES)
    if r < 0.85:
        lab = case_variant(rng, rng.choice(LABELS))
        return lab + rng.choice([": ", " ", ": "]) + a
    return rng.choice(["+", "-", "="]) + a


def gen_percent(rng):
    r = rng.random()
    if r < 0.6:
        p = str(rng.randint(0, 100))
    else:
        p = "%d.%d" % (rng.randint(0, 99), rng.randint(0, 9))
    s = p + "%"
    r = rng.random()
    if r < 0.25:
        s += rng.choice([" off!", " off", " OFF", " discount", " VAT", " tax", " paid"])
    elif r < 0.45:
        s = rng.choice(["VAT ", "Tax ", "Rate ", "VAT: ", "-", "+", "up to ", "Save "]) + s
    elif r < 0.55:
        s = "(" + s + ")"
    return s


def gen_id(rng):
    r = rng.random()
    pre = rng.choice(ID_PREFIXES)
    if r < 0.3:
        s = "%s-%d-%04d" % (pre, rng.randint(2015, 2030), rng.randint(0, 9999))
    elif r < 0.45:
        s = "#%d" % rng.randint(1, 99999)
        if rng.random() < 0.6:
            s = case_variant(rng, rng.choice(["Invoice", "Order", "No.", "Item", "Ref", "Ticket"])) + " " + s
    elif r < 0.6:
        s = "%s%0*d" % (pre, rng.randint(3, 7), rng.randint(0, 9999999))
    elif r < 0.7:
        s = "%s/%d/%02d" % (pre, rng.randint(2015, 2030), rng.randint(1, 99))
    elif r < 0.8:
        s = "%s-%s" % (rng.choice(string.ascii_uppercase) + str(rng.randint(1, 999)),
                       "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(rng.randint(2, 5))))
    elif r < 0.9:
        s = "No. %d" % rng.randint(1, 99999)
    else:
        s = "%s: %d" % (rng.choice(["ID", "Ref", "Acc", "Cust", "Tel"]), rng.randint(100, 9999999))
    return s


def gen_time(rng):
    h = rng.randint(0, 23)
    m = rng.randint(0, 59)
    r = rng.random()
    if r < 0.4:
        s = "%02d:%02d" % (h, m)
    elif r < 0.6:
        s = "%02d:%02d:%02d" % (h, m, rng.randint(0, 59))
    elif r < 0.8:
        s = "%d:%02d %s" % (h % 12 + 1, m, rng.choice(["am", "pm", "AM", "PM"]))
    else:
        s = "%02d:%02d-%02d:%02d" % (h, m, rng.randint(0, 23), rng.randint(0, 59))
    if rng.random() < 0.2:
        s = rng.choice(["Time: ", "at ", "Open ", "Due "]) + s
    return s


def gen_qty(rng):
    n = rng.randint(1, 999) if rng.random() < 0.7 else rng.randint(1, 9)
    unit = rng.choice(UNITS)
    r = rng.random()
    if r < 0.35:
        return "%s %d (%s)" % (case_variant(rng, "Qty"), n, unit)
    if r < 0.6:
        return "%d %s" % (n, unit)
    if r < 0.8:
        return "%dx %s" % (n, word(rng))
    return "%d x %s" % (n, money(rng))


def gen_words(rng):
    k = rng.choice([1, 1, 2, 2, 2, 3])
    s = " ".join(word(rng) for _ in range(k))
    r = rng.random()
    if r < 0.35:
        s += rng.choice([".", ",", ":", "!", "?", "!", "'s", ":"])
    elif r < 0.45:
        s = "(" + s + ")"
    elif r < 0.55:
        s = word(rng) + rng.choice(["-", "/", "&", "+", " & ", " / ", ", "]) + word(rng)
    return s


def gen_phrase(rng):
    if rng.random() < 0.5:
        return rng.choice(PHRASES)
    r = rng.random()
    if r < 0.35:  # small equations
        a = rng.choice([rng.choice(string.ascii_uppercase), str(rng.randint(0, 99))])
        b = rng.choice([rng.choice(string.ascii_uppercase), str(rng.randint(0, 99))])
        c = rng.choice([rng.choice(string.ascii_uppercase), str(rng.randint(0, 199))])
        return a + rng.choice("+-/") + b + "=" + c
    if r < 0.55:  # X&Y abbreviations
        return rng.choice(string.ascii_uppercase) + "&" + rng.choice(string.ascii_uppercase)
    if r < 0.75:
        return "Page %d/%d" % (rng.randint(1, 9), rng.randint(1, 99))
    return word(rng) + rng.choice(["!", "?", "...", "!?", "'", ":"])


STRUCTURED = [
    (gen_words, 5), (gen_date, 3), (gen_price, 4), (gen_percent, 2),
    (gen_id, 3), (gen_time, 2), (gen_qty, 2), (gen_phrase, 3),
]


def weighted(rng, items):
    """Pick one tuple of items; its last element is its weight."""
    total = sum(it[-1] for it in items)
    x = rng.random() * total
    for it in items:
        x -= it[-1]
        if x < 0:
            return it
    return items[-1]


def random_string(rng):
    name, pool, _ = weighted(rng, POOLS)
    n = rng.randint(1, MAX_LEN)
    no_space = pool.replace(" ", "")
    out = []
    for i in range(n):
        c = rng.choice(pool)
        # no leading/trailing/double spaces: redraw a space from the pool without space
        if c == " " and (i == 0 or i == n - 1 or out[-1] == " "):
            c = rng.choice(no_space)
        out.append(c)
    return "".join(out)


def valid(text):
    return (1 <= len(text) <= MAX_LEN and all(c in CHARSET for c in text)
            and text == text.strip(" ") and "  " not in text)


def gen_text(rng):
    if rng.random() < 0.55:
        t = random_string(rng)
        kind = "random"
    else:
        for _ in range(100):
            fn, _w = weighted(rng, STRUCTURED)
            t = fn(rng)
            if valid(t):
                break
        kind = "structured"
    assert valid(t), t
    return t, kind


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------

_FONTS = {}


def font(name, size):
    key = (name, size)
    if key not in _FONTS:
        _FONTS[key] = ImageFont.truetype(os.path.join(FONT_DIR, name + ".ttf"), size)
    return _FONTS[key]


def render(rng, text):
    name = rng.choice(FONT_NAMES)
    size = rng.randint(SIZE_MIN, SIZE_MAX)
    f = font(name, size)
    ascent, descent = f.getmetrics()
    line_h = ascent + descent
    pad_top = int(round(rng.uniform(0.0, 0.35) * size))
    pad_bot = int(round(rng.uniform(0.0, 0.35) * size))
    h = line_h + pad_top + pad_bot
    m_left = int(round(rng.uniform(0.0, 0.6) * size))
    m_right = int(round(rng.uniform(0.0, 0.6) * size))
    left, _top, right, _bottom = f.getbbox(text)
    lead = max(0, -left)  # keep a negative left side bearing inside the box
    text_w = lead + max(int(math.ceil(f.getlength(text))), right)
    w = m_left + text_w + m_right
    min_w = int(round(rng.uniform(1.5, 3.5) * h))
    x = m_left + lead
    if w < min_w:
        extra = min_w - w
        # short text is mostly left-aligned: most of the extra width goes to the right
        if rng.random() >= 0.8:
            x += int(round(extra * rng.random()))
        w = min_w
    fg = rng.randint(0, 80)
    bg = rng.randint(200, 255)
    sigma = rng.uniform(0.0, 8.0)

    img = Image.new("L", (w, h), bg)
    ImageDraw.Draw(img).text((x, pad_top), text, font=f, fill=fg)
    px = img.tobytes()
    gauss = rng.gauss
    noisy = bytes(min(255, max(0, int(round(v + gauss(0.0, sigma))))) for v in px)
    img = Image.frombytes("L", (w, h), noisy).convert("RGB")
    return img, dict(font=name, size=size, w=w, h=h)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--count", type=int, default=N_LINES)
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.count):
        text, _kind = gen_text(rng)
        img, _info = render(rng, text)
        fn = "%03d.png" % i
        img.save(os.path.join(args.out, fn), format="PNG", optimize=True)
        rows.append((fn, text))
    with open(os.path.join(args.out, "labels.tsv"), "w", encoding="utf-8", newline="\n") as fh:
        for fn, text in rows:
            assert "\t" not in text and "\n" not in text
            fh.write("%s\t%s\n" % (fn, text))
    print("wrote %d lines to %s" % (len(rows), args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
