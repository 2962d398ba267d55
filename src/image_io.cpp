// stb_image implementation and image decoding (being written).
