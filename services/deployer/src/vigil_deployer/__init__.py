"""Vigil deployer: changes the world (pulls images, replaces containers, rolls back) and
keeps the journal of each deploy."""
