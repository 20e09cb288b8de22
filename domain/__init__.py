"""Pure domain: models, rules and ports. Imports only the standard library, shapely and pyproj."""
