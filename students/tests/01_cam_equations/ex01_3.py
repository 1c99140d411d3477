from otter.test_files import test_case

OK_FORMAT = False

name = "ex01_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="M is linear in w: what does negating every weight do to the sum?")
def test_negated_map(M_neg):
    from camlib.lab.exercises import expect_fingerprint
    expect_fingerprint(M_neg, '7b7390f14195bc87', shape=(6, 6))

@test_case(points=None, hidden=False, 
    failure_message="the new maximum is where the old map was lowest; (row, col), not (x, y)")
def test_peak(peak_neg):
    from camlib.lab.exercises import expect_fingerprint
    expect_fingerprint(tuple(peak_neg) if isinstance(peak_neg, list) else peak_neg, '48b23d2d0c69b33e', shape=(2,))

