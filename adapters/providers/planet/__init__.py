"""Planet Data API v1: quick-search, asset activation as orders, downloads of active assets.

``connect.py`` builds the source; ``item_types.py`` (platforms, item types, default assets) and
``filters.py`` (search filters) are pure; ``items.py`` maps features to scenes; ``assets.py``
reads asset records; ``source.py`` searches and activates; ``stac_item.py`` exports.
"""
