"""The pure core: entities and rules of the product, no I/O and no frameworks."""
