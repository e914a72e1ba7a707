"""Moving a site in and out: the entry to the export and the imports.

* ``transfer_export``: the whole site (or one reader's comments) as one versioned JSON
  document, whose schema is ``transfer_document``.
* Readers, one per format, open and check a file and hand on its threads and comments
  as they read them: ``transfer_json`` (a Ranklet export, one thread at a time),
  ``transfer_isso`` (an Isso database, row by row), ``transfer_disqus`` and
  ``transfer_wordpress`` (XML read as a stream, ``transfer_xml``).
* ``transfer_pipeline`` writes what a reader hands on in batches inside one
  transaction, all or nothing, with memory flat in the file's size
  (``transfer_rows``: the API's rules and rendering; ``transfer_parked``: replies
  that come before their parent).

Comments carry a ``source_key`` ("json:12", "isso:7", "disqus:345", "wordpress:10:100"),
unique per site, so running an import again adds nothing.
"""

from __future__ import annotations

from service.transfer_export import export_site, export_text
from service.transfer_items import ImportRefused, ImportSource, ImportSummary
from service.transfer_pipeline import apply_import

__all__ = [
    "ImportRefused",
    "ImportSource",
    "ImportSummary",
    "apply_import",
    "export_site",
    "export_text",
]
