"""The shapes world: a procedural visual world whose skills are known exactly (scenes, question families, target
tasks, the task-agnostic support pool, pre-training streams) and the reference teacher that reads it."""
