"""Moving a site in and out: the export (one versioned JSON document), one reader per import
format (json_format, isso, disqus, wordpress), each handing on threads and comments as it reads,
and the pipeline that writes them in batches inside one transaction, all or nothing. Comments
carry a source_key, so an import run twice adds nothing.
"""
