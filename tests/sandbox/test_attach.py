"""The attached stream's frames, read off a socket that hands out bytes in arbitrary pieces
(as an SSL socket does from its buffer): every frame whole, stdout and stderr apart, and the
connection closed at the end."""

import struct

from sandbox.attach import _frames


class _Socket:
    """A socket's `recv`, giving at most `piece` bytes of `data` per call."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data, self._piece = data, piece
        self.closed = False

    def recv(self, n: int) -> bytes:
        out, self._data = self._data[: min(n, self._piece)], self._data[min(n, self._piece) :]
        return out

    def close(self) -> None:
        self.closed = True


def _frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


def test_frames_come_whole_and_apart_whatever_the_pieces() -> None:
    stream = _frame(1, b"ready\n") + _frame(2, b"warn\n") + _frame(1, b"") + _frame(1, b"x" * 70)
    for piece in (1, 3, 8, 4096):
        sock = _Socket(stream, piece)
        assert list(_frames(sock)) == [
            (b"ready\n", None),
            (None, b"warn\n"),
            (b"x" * 70, None),
        ]
        assert sock.closed


def test_a_stream_cut_inside_a_frame_ends_without_the_partial_frame() -> None:
    stream = _frame(1, b"whole\n") + _frame(1, b"cut off here")[:10]
    sock = _Socket(stream, 5)
    assert list(_frames(sock)) == [(b"whole\n", None)]
    assert sock.closed
