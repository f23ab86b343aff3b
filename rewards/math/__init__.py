"""Math answer verification: `verify(gold, pred)` in verify.py reads the answer out of either side
(extract.py, forms.py), decides plain numbers in the caller (normalize.py), and sends the rest to
sympy (equiv.py) with math-verify as a second reader (peer.py), inside killable worker processes
(pool.py, worker.py) so nothing hangs past its deadline."""
