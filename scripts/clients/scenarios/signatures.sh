# signatures
