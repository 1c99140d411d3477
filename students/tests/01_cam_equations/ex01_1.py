from otter.test_files import test_case

OK_FORMAT = False

name = "ex01_1"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="M(x, y) = 2·f_0(x, y) − 1·f_1(x, y), position by position; a 2×2 tensor")
def test_map(M_ex, feats_ex, w_ex):
    from camlib.cam import class_activation_maps
    from camlib.exercises import expect
    want = class_activation_maps(feats_ex, w_ex)[0, 0]
    expect(M_ex, want)

@test_case(points=None, hidden=False, 
    failure_message="S is the mean of M over its 4 positions (GAP is a mean)")
def test_score(S_ex, feats_ex, w_ex):
    from camlib.exercises import expect
    want = (feats_ex.mean(dim=(-2, -1)) @ w_ex.T)[0, 0]
    expect(S_ex, want)

