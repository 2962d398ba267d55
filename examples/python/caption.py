#!/usr/bin/env python3
"""Captions images with ved from Python through its C API (libved_c.so) and ctypes: no compiled
Python extension, only the shared library.

    python3 examples/python/caption.py --lib build/libved_c.so examples/models/demo-vit-gpt2 IMAGE...

Prints "IMAGE: TEXT (confidence C)" per image, like examples/c/caption.c.
"""
import argparse
import ctypes
import sys


class Options(ctypes.Structure):
    _fields_ = [("max_new_tokens", ctypes.c_int), ("num_beams", ctypes.c_int),
                ("generate_args_json", ctypes.c_char_p)]


class Result(ctypes.Structure):
    _fields_ = [("text", ctypes.c_char_p), ("confidence", ctypes.c_double),
                ("score", ctypes.c_double), ("tokens", ctypes.POINTER(ctypes.c_int64)),
                ("num_tokens", ctypes.c_size_t), ("token_logprobs", ctypes.POINTER(ctypes.c_float)),
                ("num_token_logprobs", ctypes.c_size_t)]


class VedError(Exception):
    pass


class Ved:
    """A loaded checkpoint folder; the library's functions declared once, errors raised."""

    def __init__(self, lib_path, model_dir):
        lib = ctypes.CDLL(lib_path)
        lib.ved_version.restype = ctypes.c_char_p
        lib.ved_status_string.restype = ctypes.c_char_p
        lib.ved_last_error_message.restype = ctypes.c_char_p
        lib.ved_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.ved_model_free.argtypes = [ctypes.c_void_p]
        lib.ved_caption_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(Options), ctypes.POINTER(ctypes.POINTER(Result))]
        lib.ved_result_free.argtypes = [ctypes.POINTER(Result)]
        self.lib = lib
        self.model = ctypes.c_void_p()
        self._check(lib.ved_model_load(model_dir.encode(), ctypes.byref(self.model)))

    def _check(self, status):
        if status != 0:
            raise VedError("%s: %s" % (self.lib.ved_status_string(status).decode(),
                                       self.lib.ved_last_error_message().decode(errors="replace")))

    def caption(self, path, max_new_tokens=16, num_beams=4):
        options = Options(max_new_tokens, num_beams, None)
        result = ctypes.POINTER(Result)()
        self._check(self.lib.ved_caption_file(self.model, path.encode(), ctypes.byref(options),
                                              ctypes.byref(result)))
        try:
            r = result.contents
            tokens = [r.tokens[i] for i in range(r.num_tokens)]
            return r.text.decode(errors="replace"), r.confidence, tokens
        finally:
            self.lib.ved_result_free(result)

    def close(self):
        self.lib.ved_model_free(self.model)
        self.model = ctypes.c_void_p()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", default="build/libved_c.so", help="path to libved_c.so")
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    try:
        ved = Ved(args.lib, args.model)
    except (OSError, VedError) as e:
        print("caption.py: %s" % e, file=sys.stderr)
        return 1
    failures = 0
    for path in args.images:
        try:
            text, confidence, _ = ved.caption(path)
            print("%s: %s (confidence %.4f)" % (path, text, confidence))
        except VedError as e:
            print("caption.py: %s" % e, file=sys.stderr)
            failures += 1
    ved.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
