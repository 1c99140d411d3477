from otter.test_files import test_case

OK_FORMAT = False

name = "ex01_2"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="Z = h·w of the final maps: look at maps_ex2.shape")
def test_positions(Z_ex2, maps_ex2):
    from camlib.lab.exercises import expect
    want = maps_ex2[0, 0].numel()
    expect(Z_ex2, want)

@test_case(points=None, hidden=False, 
    failure_message="sum each class map over its two spatial dimensions, then divide by Z")
def test_scores(scores_ex2, logits_ex2):
    from camlib.lab.exercises import expect
    expect(scores_ex2, logits_ex2)

