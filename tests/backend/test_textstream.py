from ember.backend.engine.textstream import TextStream


def feed_all(stream: TextStream, pieces: list[bytes]) -> str:
    return "".join(stream.feed(p) for p in pieces) + stream.flush()


def test_multibyte_characters_split_across_pieces_come_out_whole():
    text = "héllo 🔥 世界"
    data = text.encode()
    stream = TextStream()
    outputs = [stream.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(outputs) + stream.flush() == text
    assert all("\ufffd" not in out for out in outputs)


def test_stop_string_is_never_printed_even_across_pieces():
    stream = TextStream(["<|end|>"])
    pieces = [b"Hello", b" <|", b"en", b"d|>", b" after"]
    assert feed_all(stream, pieces) == "Hello "
    assert stream.stopped


def test_text_that_only_looks_like_a_stop_prefix_is_released():
    stream = TextStream(["STOP"])
    out = [stream.feed(b"ST"), stream.feed(b"ART")]
    assert "".join(out) == "START"
    assert not stream.stopped


def test_earliest_of_several_stops_wins():
    stream = TextStream(["b", "xyz"])
    assert feed_all(stream, [b"axyzb"]) == "a"


def test_held_back_text_is_flushed_at_the_end():
    stream = TextStream(["###"])
    assert feed_all(stream, [b"price #"]) == "price #"


def test_truncated_utf8_at_the_end_becomes_a_replacement_not_a_crash():
    stream = TextStream()
    assert feed_all(stream, ["é".encode()[:1]]) == "\ufffd"
