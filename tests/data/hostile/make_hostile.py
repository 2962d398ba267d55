#!/usr/bin/env python3
"""Writes the hostile corpus (tests/data/hostile/*) and MANIFEST.tsv.

Each file is small and crafted to break one reader in one way. MANIFEST.tsv maps it to the entry
point that opens it and the ved error type it must raise (see tests/unit/hostile_test.cpp for how
each entry point is driven). Files found by fuzzing are committed as they were found and listed
in FOUND below. control/ holds valid files built the same way: the test checks that they load, so
that every hostile variant fails for the reason it was made for, not because its base is broken.

Run from anywhere: python3 tests/data/hostile/make_hostile.py
"""
import io
import json
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
rows = []


def put(name, data, entry, expected, why):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    rows.append((name, entry, expected, why))


# ---- safetensors ----
def st(header, data=b"", raw_header=None, length=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


F32x4 = struct.pack("<4f", 1, 2, 3, 4)
good = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
S = "safetensors"
put("st_empty.safetensors", b"", S, "FormatError", "0 bytes")
put("st_short_length.safetensors", b"\x10\x00\x00", S, "FormatError", "header length cut short")
full = st(good, F32x4)
put("st_truncated_header.safetensors", full[:20], S, "FormatError", "cut inside the JSON header")
put("st_truncated_data.safetensors", full[:-5], S, "FormatError", "cut inside the data buffer")
put("st_header_len_huge.safetensors", st(good, F32x4, length=1 << 63), S, "FormatError",
    "header length 2^63")
put("st_header_len_past_end.safetensors", st(good, F32x4, length=4000), S, "FormatError",
    "header length beyond the file")
put("st_header_not_json.safetensors", st(None, F32x4, raw_header=b"not json at all"), S,
    "FormatError", "header is not JSON")
put("st_header_array.safetensors", st([1, 2, 3], F32x4), S, "FormatError", "header is a list")
put("st_header_invalid_utf8.safetensors", st(None, F32x4, raw_header=b'{"\xff\xfe": 1}'), S,
    "FormatError", "tensor name is not UTF-8")
put("st_nesting_bomb.safetensors", st(None, b"", raw_header=b"[" * 20000 + b"]" * 20000), S,
    "FormatError", "20000 nested lists in the header")
put("st_missing_dtype.safetensors", st({"w": {"shape": [4], "data_offsets": [0, 16]}}, F32x4), S,
    "FormatError", "no dtype")
put("st_unknown_dtype.safetensors",
    st({"w": {"dtype": "F8_E4M3", "shape": [16], "data_offsets": [0, 16]}}, F32x4), S,
    "FormatError", "dtype ved does not know")
put("st_negative_dim.safetensors",
    st({"w": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}, F32x4), S,
    "FormatError", "negative dimension")
put("st_float_dim.safetensors",
    st({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]}}, F32x4), S,
    "FormatError", "fractional dimension")
put("st_shape_overflow.safetensors",
    st({"w": {"dtype": "F32", "shape": [1 << 32, 1 << 32, 16], "data_offsets": [0, 16]}}, F32x4),
    S, "FormatError", "shape product overflows 64 bits")
put("st_shape_bytes_overflow.safetensors",
    st({"w": {"dtype": "F64", "shape": [1 << 61, 2], "data_offsets": [0, 16]}}, F32x4), S,
    "FormatError", "element count fits, byte count overflows")
put("st_absurd_dim.safetensors",
    st({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 16]}}, F32x4),
    S, "FormatError", "dimension 2^64-1")
put("st_offsets_reversed.safetensors",
    st({"w": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}}, F32x4), S, "FormatError",
    "end before begin")
put("st_offsets_out_of_range.safetensors",
    st({"w": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, F32x4), S,
    "FormatError", "offsets beyond the data")
put("st_offsets_negative.safetensors",
    st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}, F32x4), S, "FormatError",
    "negative offset")
put("st_offsets_overlap.safetensors",
    st({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [4, 16]}}, F32x4), S, "FormatError",
    "two tensors share bytes")
put("st_size_lies.safetensors",
    st({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 16]}}, F32x4), S, "FormatError",
    "shape needs 32 bytes, offsets span 16")
put("st_metadata_not_string.safetensors",
    st({"__metadata__": {"format": 1}, **good}, F32x4), S, "FormatError",
    "metadata value is a number")
put("st_int_as_float.safetensors",
    st({"w": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}}, F32x4), S, "WeightError",
    "integer tensor read as float weights")

# ---- pytorch_model.bin (zip of stored entries + pickle) ----
def pstr(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pint(n):
    return b"J" + struct.pack("<i", n)


def ptensor(key, numel, offset, size, stride, storage="FloatStorage"):
    p = b"ctorch._utils\n_rebuild_tensor_v2\n("
    p += b"(" + pstr("storage") + b"ctorch\n" + storage.encode() + b"\n" + pstr(key)
    p += pstr("cpu") + pint(numel) + b"tQ"
    p += pint(offset) + b"(" + b"".join(pint(x) for x in size) + b"t"
    p += b"(" + b"".join(pint(x) for x in stride) + b"t"
    p += b"\x89ccollections\nOrderedDict\n)RtR"
    return p


def pdict(entries):
    return b"\x80\x02}(" + b"".join(pstr(n) + t for n, t in entries) + b"u."


def tzip(files, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buf.getvalue()


def bin_file(pkl, storages=(("0", F32x4),), version=b"3\n", extra=()):
    files = [("archive/data.pkl", pkl)]
    files += [("archive/data/" + k, v) for k, v in storages]
    if version is not None:
        files.append(("archive/version", version))
    files += list(extra)
    return tzip(files)


B = "bin"
valid_pkl = pdict([("w", ptensor("0", 4, 0, [2, 2], [2, 1]))])
valid_bin = bin_file(valid_pkl)
put("bin_empty.bin", b"", B, "FormatError", "0 bytes")
put("bin_legacy_pickle.bin", b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.", B, "FormatError",
    "pre-1.6 raw pickle")
put("bin_truncated.bin", valid_bin[: len(valid_bin) // 2], B, "FormatError",
    "cut in half (no central directory)")
put("bin_truncated_eocd.bin", valid_bin[:-3], B, "FormatError", "end record cut short")
put("bin_deflated.bin", tzip([("archive/data.pkl", valid_pkl), ("archive/version", b"3\n")],
                             zipfile.ZIP_DEFLATED), B, "FormatError", "compressed entries")
put("bin_no_data_pkl.bin", tzip([("archive/version", b"3\n")]), B, "FormatError",
    "no data.pkl")
put("bin_bad_version.bin", bin_file(valid_pkl, version=b"99999999\n"), B, "FormatError",
    "absurd format version")
put("bin_big_endian.bin", bin_file(valid_pkl, extra=[("archive/byteorder", b"big")]), B,
    "FormatError", "big-endian storages")
put("bin_evil_global.bin", bin_file(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."), B,
    "FormatError", "pickle calls os.system")
put("bin_pickle_nesting_bomb.bin", bin_file(b"\x80\x02" + b"]" * 100 + b"a" * 99 + b"."), B,
    "FormatError", "100 nested lists")
put("bin_pickle_truncated.bin", bin_file(valid_pkl[:-9]), B, "FormatError",
    "pickle without STOP")
put("bin_missing_storage.bin", bin_file(valid_pkl, storages=()), B, "FormatError",
    "storage record absent")
put("bin_storage_size_lies.bin",
    bin_file(pdict([("w", ptensor("0", 1000, 0, [4], [1]))])), B, "FormatError",
    "storage claims 1000 elements, holds 4")
put("bin_view_out_of_range.bin",
    bin_file(pdict([("w", ptensor("0", 4, 2, [4], [1]))])), B, "FormatError",
    "offset 2 + 4 elements beyond a 4-element storage")
put("bin_stride_overflow.bin",
    bin_file(pdict([("w", ptensor("0", 4, 0, [2, 2], [2**31 - 1, 2**31 - 1]))])), B,
    "FormatError", "strides reach far beyond the storage")
put("bin_negative_dim.bin", bin_file(pdict([("w", ptensor("0", 4, 0, [-4], [1]))])), B,
    "FormatError", "negative size")
put("bin_zero_stride_bomb.bin",
    bin_file(pdict([("w", ptensor("0", 4, 0, [2**31 - 1, 2**31 - 1], [0, 0]))])),
    B, "WeightError", "stride-0 view of 2^62 elements (16 EiB) over 4 stored ones")
put("bin_shape_overflow.bin",
    bin_file(pdict([("w", ptensor("0", 4, 0, [2**31 - 1] * 3, [0, 0, 0]))])),
    B, "FormatError", "stride-0 view of 2^93 elements: the element count overflows 64 bits")
tampered = bytearray(valid_bin)
cd = tampered.rfind(b"PK\x01\x02")
struct.pack_into("<I", tampered, cd + 42, 0x7FFFFFF0)  # local header offset
put("bin_local_offset_out_of_range.bin", bytes(tampered), B, "FormatError",
    "central directory points past the file")
tampered = bytearray(valid_bin)
eocd = tampered.rfind(b"PK\x05\x06")
struct.pack_into("<I", tampered, eocd + 16, 3)  # central directory offset inside entry data
put("bin_cd_offset_lies.bin", bytes(tampered), B, "FormatError",
    "central directory offset points into entry data")
tampered = bytearray(valid_bin)
struct.pack_into("<I", tampered, 22, 0xFFFF)  # local header's uncompressed size
put("bin_local_size_lies.bin", bytes(tampered), B, "FormatError",
    "local header and central directory disagree")

# ---- config.json ----
C = "config"
vcfg = {"model_type": "vision-encoder-decoder", "encoder": {"model_type": "vit"},
        "decoder": {"model_type": "gpt2"}}
put("cfg_empty.json", b"", C, "FormatError", "0 bytes")
put("cfg_truncated.json", json.dumps(vcfg)[:40], C, "FormatError", "cut mid-object")
put("cfg_nesting_bomb.json", b'{"a":' * 10000 + b"1" + b"}" * 10000, C, "FormatError",
    "10000 nested objects")
put("cfg_not_object.json", "[1, 2, 3]", C, "ConfigError", "top level is a list")
put("cfg_wrong_model_type.json", json.dumps({**vcfg, "model_type": "bert"}), C, "ConfigError",
    "not a vision-encoder-decoder")
put("cfg_encoder_not_object.json", json.dumps({**vcfg, "encoder": "vit"}), C, "ConfigError",
    "encoder is a string")
put("cfg_eos_float.json", json.dumps({**vcfg, "eos_token_id": 1.5}), C, "ConfigError",
    "fractional token id")
put("cfg_invalid_utf8.json", b'{"model_type": "vision-encoder-decoder\xff"}', C, "FormatError",
    "string is not UTF-8")
put("cfg_nul_bytes.json", b"{\x00\x00\x00}", C, "FormatError", "NUL bytes")

# ---- generation_config.json ----
G = "generation_config"
put("gen_max_length_string.json", '{"max_length": "20"}', G, "ConfigError", "string length")
# JSON has no infinity; 1e999 is the only way to ask for one. nlohmann raised out_of_range for
# it, which escaped as a non-ved exception before parse_json caught every json::exception.
put("gen_temperature_inf.json", '{"do_sample": true, "temperature": 1e999}', G, "FormatError",
    "temperature beyond double's range (infinity)")
put("gen_top_p_inf.json", '{"top_p": -1e999}', G, "FormatError", "top_p beyond double's range")
put("gen_max_length_huge.json", '{"max_length": 1000000000000}', G, "ConfigError",
    "max_length beyond max_sequence_length")
put("gen_max_new_tokens_huge.json", '{"max_new_tokens": 9223372036854775807}', G,
    "ConfigError", "max_new_tokens 2^63-1")
put("gen_num_beams_huge.json", '{"num_beams": 1000000000}', G, "ConfigError",
    "a billion beams")
put("gen_bad_words_mixed.json", '{"bad_words_ids": [[1, "a"]]}', G, "ConfigError",
    "string inside bad_words_ids")
put("gen_nesting_bomb.json", b'{"bad_words_ids": ' + b"[" * 5000 + b"]" * 5000 + b"}", G,
    "FormatError", "5000 nested lists")
put("gen_unsupported.json", '{"num_beam_groups": 4}', G, "ConfigError",
    "setting ved does not implement")

# ---- preprocessor_config.json ----
P = "preprocessor_config"
vit = {"image_processor_type": "ViTImageProcessor", "size": {"height": 224, "width": 224}}
put("pp_size_huge.json", json.dumps({**vit, "size": {"height": 65535, "width": 65535}}), P,
    "ConfigError", "65535 x 65535 output (51 GB of floats)")
put("pp_size_too_big.json", json.dumps({**vit, "size": 100000}), P, "ConfigError",
    "side beyond 65535")
put("pp_size_negative.json", json.dumps({**vit, "size": -224}), P, "ConfigError",
    "negative size")
put("pp_size_zero.json", json.dumps({**vit, "size": {"height": 0, "width": 224}}), P,
    "ConfigError", "zero height")
put("pp_std_zero.json", json.dumps({**vit, "image_std": [0.5, 0, 0.5]}), P, "ConfigError",
    "division by zero")
put("pp_mean_inf.json", '{"image_processor_type": "ViTImageProcessor", "image_mean": [1e999, 0, 0]}',
    P, "FormatError", "mean beyond double's range (infinity)")
put("pp_rescale_inf.json", '{"image_processor_type": "ViTImageProcessor", "rescale_factor": 1e400}',
    P, "FormatError", "rescale factor beyond double's range")
put("pp_std_wrong_channels.json", json.dumps({**vit, "image_std": [0.5, 0.5]}), P,
    "ConfigError", "two channels of std")
put("pp_unknown_type.json", json.dumps({**vit, "image_processor_type": "CLIPImageProcessor"}), P,
    "ConfigError", "unsupported processor")
put("pp_resample_bad.json", json.dumps({**vit, "resample": 9}), P, "ConfigError",
    "no such PIL filter")
put("pp_truncated.json", json.dumps(vit)[:30], P, "FormatError", "cut mid-object")

# ---- tokenizer files (each replaces one file of a valid tokenizer folder) ----
put("vocab_not_object.json", "[1, 2, 3]", "vocab.json", "FormatError", "a list")
put("vocab_string_id.json", '{"a": "1"}', "vocab.json", "FormatError", "id is a string")
put("vocab_invalid_utf8.json", b'{"\xc3\x28": 0, "b": 1}', "vocab.json", "FormatError",
    "token is not UTF-8")
put("vocab_truncated.json", '{"a": 0, "b": 1, "c', "vocab.json", "FormatError", "cut mid-key")
put("vocab_nested.json", '{"a": ' + "[" * 10000 + "]" * 10000 + "}", "vocab.json",
    "FormatError", "10000 nested lists as an id")
put("vocab_huge_id.json", '{"a": 99999999999999999999999}', "vocab.json", "FormatError",
    "id beyond 64 bits")
put("merges_three_symbols.txt", "#version: 0.2\na b c\n", "merges", "FormatError",
    "three symbols on a line")
put("merges_invalid_utf8.txt", b"#version: 0.2\n\xff\xfe a\n", "merges", "FormatError",
    "symbol is not UTF-8")
put("vocab_invalid_utf8.txt", b"[PAD]\n[UNK]\n\xe2\x28\xa1\n", "vocab.txt", "FormatError",
    "line is not UTF-8")
put("vocab_empty.txt", b"", "vocab.txt", "FormatError", "no tokens")
put("vocab_overlong_utf8.txt", b"[UNK]\n\xc0\xaf\n", "vocab.txt", "FormatError",
    "overlong UTF-8 encoding of '/'")
put("tokjson_not_object.json", "[]", "tokenizer.json", "FormatError", "a list")
put("tokjson_no_model.json", '{"normalizer": null}', "tokenizer.json", "FormatError",
    "no model")
put("tokjson_model_type_number.json", '{"model": {"type": 7}}', "tokenizer.json",
    "FormatError", "model type is a number")
put("tokjson_wordlevel.json", '{"model": {"type": "WordLevel", "vocab": {}}}', "tokenizer.json",
    "ConfigError", "unsupported model")
put("tokjson_nesting_bomb.json", '{"model": ' + "[" * 8000 + "]" * 8000 + "}",
    "tokenizer.json", "FormatError", "8000 nested lists")


# ---- images ----
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, depth=8, ctype=2, idat=None):
    raw = idat if idat is not None else zlib.compress(b"".join(
        b"\x00" + bytes(range(3 * w)) for _ in range(h)) if w * h < 4096 else b"")
    return (b"\x89PNG\r\n\x1a\n" +
            png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) +
            png_chunk(b"IDAT", raw) + png_chunk(b"IEND", b""))


I = "image"
valid_png = png(4, 3)
put("img_empty.png", b"", I, "FormatError", "0 bytes")
put("img_png_huge.png", png(65535, 65535, idat=zlib.compress(b"")), I, "FormatError",
    "65535 x 65535 declared in 80 bytes")
put("img_png_over_limit.png", png(20000, 20000, idat=zlib.compress(b"")), I, "FormatError",
    "4e8 pixels, over max_image_pixels")
put("img_png_zero_width.png", png(0, 10), I, "FormatError", "zero width")
put("img_png_bad_ctype.png", png(4, 3, ctype=5), I, "FormatError", "colour type 5 does not exist")
put("img_png_bad_depth.png", png(4, 3, depth=7), I, "FormatError", "bit depth 7")
put("img_png_truncated.png", valid_png[:45], I, "FormatError", "cut inside IDAT")
put("img_png_no_idat.png", valid_png[:33] + png_chunk(b"IEND", b""), I, "FormatError",
    "no pixel data")


def jpeg_sof(w, h, comps=3):
    sof = struct.pack(">BHHB", 8, h, w, comps) + b"".join(
        bytes([i + 1, 0x11, 0]) for i in range(comps))
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


put("img_jpeg_huge.jpg", jpeg_sof(65500, 65500), I, "FormatError", "65500 x 65500 declared")
put("img_jpeg_zero_height.jpg", jpeg_sof(16, 0), I, "FormatError", "zero height (DNL unsupported)")
put("img_jpeg_bad_channels.jpg", jpeg_sof(8, 8, comps=2), I, "FormatError", "two components")
put("img_jpeg_no_eoi.jpg", jpeg_sof(8, 8)[:-2], I, "FormatError", "no end-of-image marker")
put("img_jpeg_huffman_overflow.jpg",
    b"\xff\xd8\xff\xc4\x00\x13\x00" + b"\xff" * 16 + b"\xff\xd9", I, "FormatError",
    "Huffman table with 4080 symbols")


def bmp(w, h, bpp=24):
    row = ((w * bpp // 8 + 3) // 4) * 4 if w > 0 else 0
    pixels = b"" if abs(w * h) > 4096 else b"\x80" * (row * abs(h))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(pixels), 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54)
    return head + info + pixels


put("img_bmp_huge.bmp", bmp(60000, 60000), I, "FormatError", "60000 x 60000 declared")
put("img_bmp_zero.bmp", bmp(0, 0), I, "FormatError", "0 x 0")
put("img_bmp_negative_width.bmp", bmp(-4, 4), I, "FormatError", "negative width")
put("img_bmp_bad_bpp.bmp", bmp(4, 4, bpp=13), I, "FormatError", "13 bits per pixel")
put("img_gif_huge.gif", b"GIF89a\xff\xff\xff\xff\x00\x00\x00;", I, "FormatError",
    "65535 x 65535 screen")
put("img_ppm_huge.ppm", b"P6\n65535 65535\n255\n" + b"\x00" * 64, I, "FormatError",
    "65535 x 65535 declared")
put("img_ppm_maxval_huge.ppm", b"P6\n2 2\n70000\n" + b"\x00" * 12, I, "FormatError",
    "maximum value beyond 16 bits")
put("img_ppm_truncated.ppm", b"P6\n16 16\n255\n" + b"\x00" * 30, I, "FormatError",
    "pixels cut short")
put("img_psd_bad_channels.psd",
    b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 57, 4, 4, 8, 3), I, "FormatError",
    "57 channels")
put("img_tga_huge.tga", struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 65535, 65535, 24, 0),
    I, "FormatError", "65535 x 65535 declared")
put("img_text.png", "this is not an image at all\n", I, "FormatError", "text")

# ---- found by fuzzing (committed as found; expected error decided by hand) ----
FOUND = [
    ("fuzz_img_pnm_number_overflow.pgm", I, "FormatError",
     "fuzz_image: a width of 100 digits overflowed stb_image's int (UBSan)"),
    ("fuzz_st_number_overflow.safetensors", S, "FormatError",
     "fuzz_safetensors: 2e222... in the header escaped as nlohmann's out_of_range"),
    ("fuzz_gen_from_model_config_list.json", "generation_from_config", "ConfigError",
     "fuzz_config: GenerationConfig::from_model_config iterated a list's keys (invalid_iterator)"),
    ("fuzz_img_png_empty_idat.png", I, "FormatError",
     "fuzz_image: an empty first IDAT chunk made stb_image memcpy to NULL (UBSan nonnull-attribute)"),
    ("fuzz_img_jpeg_fill_before_soi.tga", I, "FormatError",
     "fuzz_image: a JPEG behind a 0xFF fill byte, named *.tga, reached stb_image without the "
     "Huffman check (UBSan index 257 out of bounds)"),
]
for name, entry, expected, why in FOUND:
    rows.append((name, entry, expected, why))

# ---- controls ----
os.makedirs(os.path.join(HERE, "control"), exist_ok=True)
with open(os.path.join(HERE, "control", "valid.safetensors"), "wb") as f:
    f.write(full)
with open(os.path.join(HERE, "control", "valid.bin"), "wb") as f:
    f.write(valid_bin)
with open(os.path.join(HERE, "control", "valid.png"), "wb") as f:
    f.write(valid_png)
with open(os.path.join(HERE, "control", "valid.bmp"), "wb") as f:
    f.write(bmp(4, 4))

with open(os.path.join(HERE, "MANIFEST.tsv"), "w") as f:
    f.write("# file\tentry point\texpected ved error\twhat is wrong with it\n")
    for r in rows:
        f.write("\t".join(r) + "\n")
print(len(rows), "hostile files")
