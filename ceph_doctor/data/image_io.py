"""Finding and reading image files, with errors that name the file.

Loaders only list images (`index_images`) and check they exist; the trainer
decodes them later with `read_grayscale`. `image_size` reads the header of
PNG, BMP and JPEG files so sizes can be checked without decoding megapixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from ceph_doctor.errors import DataError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")

# JPEG start-of-frame markers carry the size; C4, C8 and CC are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise a DataError saying what was expected."""
    if not path.is_dir():
        problem = "is a file, expected a folder" if path.exists() else "folder not found"
        raise DataError(path, f"{problem} ({what})")
    return path


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name.

    Hidden files are skipped: archives unpacked on macOS leave `._001.bmp`
    resource forks next to the real images.
    """
    return [
        path
        for path in sorted(folder.iterdir())
        if not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    ]


def index_images(folder: Path) -> dict[str, Path]:
    """Map image id (file stem) -> path for the images directly inside `folder`."""
    found: dict[str, Path] = {}
    for path in list_images(folder):
        if path.stem in found:
            raise DataError(path, f"two images share the id '{path.stem}': {found[path.stem].name} and {path.name}")
        found[path.stem] = path
    return found


def _read_bytes(path: Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "image not found" if not path.exists() else "not a file, expected an image")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read image: {error.strerror or error}") from error
    if not data:
        raise DataError(path, "image file is empty (0 bytes)")
    return data


def read_grayscale(path: Path) -> np.ndarray:
    """Decode an image file to uint8 H x W grayscale.

    Decoding from bytes (not cv2.imread) keeps non-ASCII paths working on
    Windows and lets a missing file and a corrupt file get different messages.
    """
    path = Path(path)
    data = _read_bytes(path)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error as error:
        raise DataError(path, f"cannot decode image: {error}") from error
    if image is None or image.size == 0:
        raise DataError(path, "cannot decode image (corrupt file or unsupported format)")
    return np.ascontiguousarray(image, dtype=np.uint8)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header when it is PNG, BMP or JPEG, else by decoding."""
    path = Path(path)
    if not path.is_file():
        _read_bytes(path)  # raises the right DataError
    try:
        with path.open("rb") as handle:
            size = _size_from_header(handle)
    except OSError as error:
        raise DataError(path, f"cannot read image: {error.strerror or error}") from error
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    height, width = read_grayscale(path).shape
    return width, height


def _size_from_header(handle) -> tuple[int, int] | None:
    head = handle.read(32)
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head.startswith(b"BM") and len(head) >= 26:
        (dib_size,) = struct.unpack("<I", head[14:18])
        if dib_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
            width, height = struct.unpack("<HH", head[18:22])
        else:
            width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)  # negative height = top-down rows
    if head.startswith(b"\xff\xd8"):
        handle.seek(2)
        return _jpeg_size(handle)
    return None


def _jpeg_size(handle) -> tuple[int, int] | None:
    """Walk the JPEG segments up to the first start-of-frame marker."""
    while True:
        byte = handle.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            marker = handle.read(1)
            if marker != b"\xff":
                break
            byte = marker
        else:
            return None  # not at a marker: malformed, let the decoder judge
        if not marker:
            return None
        code = marker[0]
        if code == 0xD8 or code == 0x01 or 0xD0 <= code <= 0xD7:
            continue  # markers without a length field
        if code == 0xD9:
            return None
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if code in _JPEG_SOF_MARKERS:
            frame = handle.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if length < 2:
            return None
        handle.seek(length - 2, 1)
