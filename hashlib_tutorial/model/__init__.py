"""The networks: attention blocks, backbones, hash heads, the hashing model and the losses."""
