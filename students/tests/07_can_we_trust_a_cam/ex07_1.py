from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="n steps give n + 1 points spaced 1/n apart: add the points, take half of the first and of the last away, divide by n")
def test_rise_auc(answer_1, s):
    assert answer_1 is not ..., 'not answered yet: replace ... with your answer'
    auc = float(answer_1)
    low, high = (float(s.min()), float(s.max()))
    assert low - 1e-09 <= auc <= high + 1e-09, f"the curve's x axis runs from 0 to 1, so the area under it lies between its lowest and highest points ({low:.4f} and {high:.4f}), got {auc:.4f}"

