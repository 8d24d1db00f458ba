"""Retrieval data: datasets in memory or in files, CIFAR-10 and its protocols, mosaics, augmentation."""
