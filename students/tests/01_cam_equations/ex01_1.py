from otter.test_files import test_case

OK_FORMAT = False

name = "ex01_1"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="M(x, y) = 2·f_0(x, y) − 1·f_1(x, y), position by position; a 2×2 tensor")
def test_map(M_ex):
    from camlib.lab.exercises import expect_fingerprint
    expect_fingerprint(M_ex, '3388e5e66ad52c53', shape=(2, 2))

@test_case(points=None, hidden=False, 
    failure_message="S is the mean of M over its 4 positions (GAP is a mean)")
def test_score(S_ex):
    from camlib.lab.exercises import expect_fingerprint
    expect_fingerprint(S_ex, '8451c68364b930f0', shape=())

