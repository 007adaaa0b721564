"""crossgate's benchmark (owned by the bench/ package; results go to bench/results/, git-ignored).

* ``python -m bench``: (a) SDK stock mocks vs (b) crossgate's runner vs (c) the full gate on generated
  azure-native programs of 100/1,000/10,000 resources, and (d) the reference stack against its import
  floor; prints a table and the targets, writes ``bench/results/latest.json``.
* ``python -m bench.profiling --size 1000``: cProfile of every process (crossgate, program host, pack
  processes) and thread in (b) and (c), top hot spots, ``.prof`` files in ``bench/results/profile-N``;
  ``--rss-only`` reports the peak RSS of each process instead.
* ``python -m bench.experiments --size 1000``: candidate speed-ups of the program host, tried on copies
  of ``crossgate/program/_host.py`` without editing crossgate.
"""
