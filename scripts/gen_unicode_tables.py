#!/usr/bin/env python3
"""Generates include/ved/detail/unicode_tables.hpp from Python's unicodedata.

ved has no ICU, but its tokenizers need a few Unicode properties to match transformers exactly:
  * the General Category of every code point (GPT-2's pre-tokenizer regex uses \\p{L} and
    \\p{N}; BERT-style tokenizers need P*, C*, Zs and Mn),
  * White_Space, which is what `\\s` means in the `regex` module transformers uses,
  * Python's str.isspace(), which str.strip()/lstrip()/rstrip() use around added tokens,
  * what BERT's BasicTokenizer needs beyond categories: Python's str.lower() of one character,
    and unicodedata.normalize("NFC"/"NFD") (canonical decomposition, combining classes and the
    primary composites),
  * the compatibility decompositions NFKC/NFKD add to those (tokenizer.json normalizers, e.g.
    Nougat's NFKC).

The tables are sorted ranges searched with std::upper_bound. The Unicode version is that of
the Python running this script; transformers' `regex` module is usually a version or two ahead
of an older Python, so run this with the newest Python available (3.13 has Unicode 15.1):

    python3.13 scripts/gen_unicode_tables.py > include/ved/detail/unicode_tables.hpp
"""

import sys
import unicodedata

# Order of the enum in the generated header. Cn (unassigned) is first so that a
# zero-initialised value means "unassigned".
CATEGORIES = [
    "Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
    "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co",
]

# The White_Space property (PropList.txt). unicodedata does not expose it; the set has been
# unchanged since Unicode 6.3 (which removed U+180E).
WHITE_SPACE = [
    (0x0009, 0x000D), (0x0020, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0),
    (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F),
    (0x205F, 0x205F), (0x3000, 0x3000),
]

MAX_CP = 0x10FFFF


def category_runs():
    runs = []  # (first code point, category index); each run ends where the next begins
    prev = None
    for cp in range(MAX_CP + 1):
        cat = CATEGORIES.index(unicodedata.category(chr(cp)))
        if cat != prev:
            runs.append((cp, cat))
            prev = cat
    return runs


def ranges_where(pred):
    out = []
    start = None
    for cp in range(MAX_CP + 2):
        inside = cp <= MAX_CP and pred(cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def emit_ranges(lines, name, ranges):
    lines.append(f"inline constexpr CodepointRange {name}[] = {{")
    row = []
    for first, last in ranges:
        row.append(f"{{0x{first:X}, 0x{last:X}}}")
        if len(row) == 5:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    lines.append("")


def lowercase_runs():
    """Python's one-character str.lower() as runs (first, count, stride, delta): every stride-th
    code point from `first`, `count` of them, lower-cases to itself + delta. U+0130, whose lower
    case is two characters, is left to the C++ code."""
    pairs = []
    for cp in range(MAX_CP + 1):
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) != 1:
            assert cp == 0x130, hex(cp)
            continue
        pairs.append((cp, ord(low) - cp))
    runs = []
    i = 0
    while i < len(pairs):
        first, delta = pairs[i]
        best = (1, 1)  # (count, stride)
        for stride in (1, 2):
            n = 1
            while (i + n < len(pairs) and pairs[i + n][0] == first + n * stride
                   and pairs[i + n][1] == delta):
                n += 1
            if n > best[0]:
                best = (n, stride)
        runs.append((first, best[0], best[1], delta))
        i += best[0]
    return runs


def canonical_decompositions():
    """One level of each canonical decomposition: (code point, first, second or 0). Hangul
    syllables are decomposed arithmetically by the C++ code and are not listed."""
    out = []
    for cp in range(MAX_CP + 1):
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert len(parts) in (1, 2), hex(cp)
        out.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
    return out


def combining_class_runs():
    out = []  # (first, last, class) for the non-zero classes
    for cp in range(MAX_CP + 1):
        c = unicodedata.combining(chr(cp))
        if c == 0:
            continue
        if out and out[-1][1] == cp - 1 and out[-1][2] == c:
            out[-1] = (out[-1][0], cp, c)
        else:
            out.append((cp, cp, c))
    return out


def primary_composites(decomps):
    """(first, second, composite) for the pairs NFC recombines: two-character canonical
    decompositions whose composite survives NFC (so not a composition exclusion)."""
    out = []
    for cp, a, b in decomps:
        if b and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
            out.append((a, b, cp))
    out.sort()
    return out


def compatibility_decompositions():
    """One level of each compatibility decomposition (the `<tag>` ones unicodedata reports):
    (code point, [code points]). NFKD applies these and the canonical ones recursively."""
    out = []
    for cp in range(MAX_CP + 1):
        d = unicodedata.decomposition(chr(cp))
        if not d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()[1:]]
        assert 1 <= len(parts) <= 255, hex(cp)
        out.append((cp, parts))
    return out


def emit_rows(lines, decl, items, per_row):
    lines.append("// clang-format off")
    lines.append(decl + " = {")
    for i in range(0, len(items), per_row):
        lines.append("    " + " ".join(items[i:i + per_row]))
    lines.append("};")
    lines.append("// clang-format on")
    lines.append("")


def main():
    runs = category_runs()
    py_space = ranges_where(lambda cp: chr(cp).isspace())

    lines = []
    lines.append("// Generated by scripts/gen_unicode_tables.py; do not edit by hand.")
    lines.append(f"// Unicode {unicodedata.unidata_version} (Python {sys.version.split()[0]}).")
    lines.append("#pragma once")
    lines.append("")
    lines.append("#include <cstdint>")
    lines.append("")
    lines.append("namespace ved::detail {")
    lines.append("")
    lines.append(f'inline constexpr const char* kUnicodeDataVersion = "{unicodedata.unidata_version}";')
    lines.append("")
    lines.append("// Unicode General Category; kCn (unassigned) is zero.")
    lines.append("enum class UnicodeCategory : std::uint8_t {")
    for i in range(0, len(CATEGORIES), 10):
        lines.append("  " + ", ".join("k" + c for c in CATEGORIES[i:i + 10]) + ",")
    lines.append("};")
    lines.append("")
    lines.append("struct CategoryRun {")
    lines.append("  std::uint32_t first;     // the run lasts until the next entry's first - 1")
    lines.append("  std::uint8_t category;  // a UnicodeCategory value")
    lines.append("};")
    lines.append("")
    lines.append("struct CodepointRange {")
    lines.append("  std::uint32_t first;")
    lines.append("  std::uint32_t last;  // inclusive")
    lines.append("};")
    lines.append("")
    lines.append(f"// {len(runs)} runs covering U+0000..U+10FFFF; categories as UnicodeCategory numbers.")
    lines.append("// clang-format off")
    lines.append("inline constexpr CategoryRun kCategoryRuns[] = {")
    row = ""
    for first, cat in runs:
        item = f"{{0x{first:X},{cat}}},"
        if len(row) + len(item) > 96:
            lines.append(row.rstrip())
            row = ""
        row += ("    " if not row else "") + item + " "
    if row:
        lines.append(row.rstrip())
    lines.append("};")
    lines.append("// clang-format on")
    lines.append("")
    lines.append("// White_Space: what `\\s` matches in the `regex` module.")
    emit_ranges(lines, "kWhiteSpaceRanges", WHITE_SPACE)
    lines.append("// Python's str.isspace() (used by str.strip() and friends).")
    emit_ranges(lines, "kPythonSpaceRanges", py_space)

    lower = lowercase_runs()
    lines.append("struct CaseRun {")
    lines.append("  std::uint32_t first;")
    lines.append("  std::uint16_t count;   // code points in the run")
    lines.append("  std::uint8_t stride;   // 1: consecutive, 2: every other one")
    lines.append("  std::int32_t delta;    // lower case = code point + delta")
    lines.append("};")
    lines.append("")
    lines.append(f"// Python's str.lower() of one character, {len(lower)} runs (U+0130 aside).")
    emit_rows(lines, "inline constexpr CaseRun kLowercaseRuns[]",
              [f"{{0x{a:X},{n},{st},{d}}}," for a, n, st, d in lower], 5)

    decomps = canonical_decompositions()
    lines.append("struct CanonicalDecomposition {")
    lines.append("  std::uint32_t cp;")
    lines.append("  std::uint32_t first;")
    lines.append("  std::uint32_t second;  // 0: a one-character (singleton) decomposition")
    lines.append("};")
    lines.append("")
    lines.append(f"// One level of every canonical decomposition but Hangul's ({len(decomps)}), by code point.")
    emit_rows(lines, "inline constexpr CanonicalDecomposition kCanonicalDecompositions[]",
              [f"{{0x{c:X},0x{a:X},0x{b:X}}}," for c, a, b in decomps], 4)

    ccc = combining_class_runs()
    lines.append("struct CombiningClassRun {")
    lines.append("  std::uint32_t first;")
    lines.append("  std::uint32_t last;  // inclusive")
    lines.append("  std::uint8_t ccc;    // Canonical_Combining_Class, never 0 here")
    lines.append("};")
    lines.append("")
    lines.append(f"// Code points with a non-zero combining class, {len(ccc)} runs.")
    emit_rows(lines, "inline constexpr CombiningClassRun kCombiningClassRuns[]",
              [f"{{0x{a:X},0x{b:X},{c}}}," for a, b, c in ccc], 5)

    comps = primary_composites(decomps)
    lines.append("struct CanonicalComposition {")
    lines.append("  std::uint32_t first;")
    lines.append("  std::uint32_t second;")
    lines.append("  std::uint32_t composite;")
    lines.append("};")
    lines.append("")
    lines.append(f"// The {len(comps)} pairs NFC composes (Hangul aside), sorted by (first, second).")
    emit_rows(lines, "inline constexpr CanonicalComposition kCanonicalCompositions[]",
              [f"{{0x{a:X},0x{b:X},0x{c:X}}}," for a, b, c in comps], 4)
    compat = compatibility_decompositions()
    flat = []
    entries = []
    for cp, parts in compat:
        entries.append((cp, len(flat), len(parts)))
        flat.extend(parts)
    lines.append("struct CompatibilityDecomposition {")
    lines.append("  std::uint32_t cp;")
    lines.append("  std::uint16_t offset;  // into kCompatibilityDecompositionData")
    lines.append("  std::uint8_t length;")
    lines.append("};")
    lines.append("")
    lines.append(f"// One level of every compatibility decomposition ({len(entries)}), by code point.")
    emit_rows(lines, "inline constexpr CompatibilityDecomposition kCompatibilityDecompositions[]",
              [f"{{0x{c:X},{o},{n}}}," for c, o, n in entries], 5)
    lines.append(f"// The code points those decompositions map to ({len(flat)}).")
    emit_rows(lines, "inline constexpr std::uint32_t kCompatibilityDecompositionData[]",
              [f"0x{c:X}," for c in flat], 10)
    lines.append("}  // namespace ved::detail")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
