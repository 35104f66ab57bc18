"""Small helpers shared by every room: strict dataclass configs and atomic, hashed file I/O."""
