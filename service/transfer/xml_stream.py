"""Reading an XML export (WordPress, Disqus) safely, as a stream.

Files are parsed with defusedxml's ``iterparse`` with DTDs refused (so no entity expansion
and no external entities, ever); the readers drop each element once it is read, so the
tree never grows with the file. What goes wrong becomes one sentence for the user.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml import ElementTree as SafeElementTree

from service.transfer.items import ImportRefused, ImportSource, Item


@contextmanager
def refusing_unsafe_xml(
    path: str, kind: str, broken: Callable[[ParseError], str]
) -> Iterator[None]:
    """Turn what the parser refuses into ``ImportRefused``; ``broken`` words a parse error."""
    try:
        yield
    except defusedxml.DTDForbidden:
        raise ImportRefused(
            f"{path} declares a DTD (<!DOCTYPE ...>); {kind} exports never do, and DTDs "
            "carry entity-expansion ('billion laughs') and external-entity attacks, so "
            "the file is refused"
        ) from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise ImportRefused(
            f"{path} declares XML entities or external references; {kind} exports never "
            "do, so the file is refused"
        ) from None
    except ParseError as error:
        if not _starts_like_xml(path):
            raise ImportRefused(
                f"{path} is not an XML file (it does not begin with '<'); a {kind} export "
                "is the .xml file its export writes"
            ) from None
        raise ImportRefused(broken(error)) from None
    except RecursionError:
        raise ImportRefused(f"{path} is nested too deeply to be a {kind} export") from None
    except LookupError as error:  # <?xml encoding="..."?> names no known encoding
        raise ImportRefused(f"{path} is not valid XML ({error})") from None


def _starts_like_xml(path: str) -> bool:
    """Whether the file begins as XML does (after a byte-order mark and blank space): a
    CSV, a JSON or a zip is "not XML", not "a truncated export"."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(512)
    except OSError:
        return True
    for mark in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        start = start.removeprefix(mark)
    start = start.replace(b"\x00", b"").lstrip()
    return not start or start.startswith(b"<")  # an empty file is an interrupted one


def xml_events(handle: IO[bytes]) -> Iterator[tuple[str, Element]]:
    """Start and end events of a file, DTDs refused."""
    return SafeElementTree.iterparse(handle, events=("start", "end"), forbid_dtd=True)


def root_element(path: str) -> Element:
    """The root element, read from the start of the file only (the rest is not parsed)."""
    with open(path, "rb") as handle:
        for _event, element in xml_events(handle):
            return element
    raise ParseError("no element found")


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


class XmlFileReader(ABC):
    """One XML export read as a stream: ``source`` hands on what ``_items`` yields and
    reports, for the progress bar, how many bytes of the file are read."""

    def __init__(self, path: str, source: str, remarks: list[str] | None = None) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None
        self.source = ImportSource(
            source=source,
            items=self._items(),
            size=os.path.getsize(path),
            position=self._position,
            remarks=remarks or [],
        )

    def _position(self) -> int:
        handle = self.handle
        return handle.tell() if handle is not None and not handle.closed else 0

    @abstractmethod
    def _items(self) -> Iterator[Item]:
        """The format's threads and comments, in file order, as the parse reaches them."""
