"""Scenes built from their download links (``Scene(..., download_links, filenames, ...)``).

Not a searchable provider: a "source" whose files are the scene's own links, fetched by the
generic transfer engine without credentials. Modules: ``source`` (the SceneSource), ``connect``.
"""
