"""Lesson mode: the README's classroom walkthrough as ten lessons on the Lessons page.

- ``catalog``: the ten lessons as data (paragraph, "predict first" question, button, the
  page to watch); the page draws them all with the same code;
- ``seeded``: the lesson topic, group and records, fixed (a seed, fixed keys) so every
  student's run places the same keys on the same partitions;
- ``steps``: what each lesson's button does on the cluster, returning what it saw.
"""
