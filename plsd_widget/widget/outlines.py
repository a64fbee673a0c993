"""Outlines kernel -> view: the density contours and a class's subtypes, one packet each.

The ``contours`` trait holds the per-class density contours of the split shown; the
``subtypes`` trait the outlines of one class's subtypes and which of its points belong to
which subtype (empty bytes: no subtypes shown). One packet a trait, so a view never sees
the vertices of one update with the offsets of another. ``js/outlines.js`` is the reading
side.

Packet, little-endian; the 4-byte arrays come first, so each array starts at a multiple of
its item size::

    uint32  n_lines, n_vertices, n_members          header, 12 bytes
    uint32  offsets[n_lines + 1]                    line i is vertices[offsets[i]:offsets[i + 1]]
    uint32  members[n_members]                      subtypes: the class's points (indices into the split)
    float32 vertices[n_vertices, 2]
    uint16  classes[n_lines]                        the class (contours) or subtype (subtypes) of each line
    uint16  member_labels[n_members]                subtypes: each member's subtype

Contours carry no members (``n_members`` is 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from plsd_widget.widget.binary import array_to_bytes

HEADER = 12  # bytes: n_lines, n_vertices, n_members


class Outlines(NamedTuple):
    """A decoded packet: polylines (``vertices``, ``offsets``, ``classes``) and subtype members."""

    vertices: np.ndarray
    offsets: np.ndarray
    classes: np.ndarray
    members: np.ndarray
    member_labels: np.ndarray


def packet_size(n_lines: int, n_vertices: int, n_members: int) -> int:
    """Bytes of a packet with these counts."""
    return HEADER + 4 * (n_lines + 1) + 4 * n_members + 8 * n_vertices + 2 * n_lines + 2 * n_members


def encode_outlines(vertices, offsets, classes, members=(), member_labels=()) -> bytes:
    """The packet of polylines packed as ``contours.pack_contours`` returns them, and subtype members.

    Parameters
    ----------
    vertices : array-like of shape (n_vertices, 2)
    offsets : array-like of shape (n_lines + 1,)
    classes : array-like of shape (n_lines,)
    members, member_labels : array-like of shape (n_members,), optional
    """
    vertices = np.asarray(vertices, dtype=np.float32).reshape(-1, 2)
    offsets, classes = np.asarray(offsets).reshape(-1), np.asarray(classes).reshape(-1)
    members, member_labels = np.asarray(members).reshape(-1), np.asarray(member_labels).reshape(-1)
    if offsets.size != classes.size + 1 or offsets[-1] != len(vertices):
        raise ValueError(f"offsets ({offsets.size}) must be one longer than classes ({classes.size}) and end at "
                         f"the vertex count ({len(vertices)}); pass the arrays contours.pack_contours returned")
    if members.size != member_labels.size:
        raise ValueError(f"{members.size} members need {members.size} member labels, got {member_labels.size}")
    header = [classes.size, len(vertices), members.size]
    return b"".join([array_to_bytes(header, np.uint32), array_to_bytes(offsets, np.uint32),
                     array_to_bytes(members, np.uint32), array_to_bytes(vertices, np.float32),
                     array_to_bytes(classes, np.uint16), array_to_bytes(member_labels, np.uint16)])


def decode_outlines(packet) -> Outlines | None:
    """The arrays of a packet, or None for an empty one (tests; the view does it in JS)."""
    raw = memoryview(packet).cast("B")
    if raw.nbytes == 0:
        return None
    if raw.nbytes < HEADER:
        raise ValueError(f"an outlines packet needs at least {HEADER} bytes, got {raw.nbytes}")
    n_lines, n_vertices, n_members = np.frombuffer(raw[:HEADER], dtype="<u4").tolist()
    expected = packet_size(n_lines, n_vertices, n_members)
    if raw.nbytes != expected:
        raise ValueError(f"an outlines packet of {n_lines} lines, {n_vertices} vertices and {n_members} members "
                         f"needs {expected} bytes, got {raw.nbytes}")
    parts, start = [], HEADER
    for dtype, count in (("<u4", n_lines + 1), ("<u4", n_members), ("<f4", 2 * n_vertices), ("<u2", n_lines),
                         ("<u2", n_members)):
        stop = start + np.dtype(dtype).itemsize * count
        parts.append(np.frombuffer(raw[start:stop], dtype=dtype).astype(np.dtype(dtype).newbyteorder("=")))
        start = stop
    offsets, members, vertices, classes, member_labels = parts
    return Outlines(vertices.reshape(-1, 2), offsets, classes, members, member_labels)
