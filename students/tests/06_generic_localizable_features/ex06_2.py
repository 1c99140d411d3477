from otter.test_files import test_case

OK_FORMAT = False

name = "ex06_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the centre of (x0, y0, x1, y1) is ((x0 + x1) / 2, (y0 + y1) / 2); inside means x0 <= cx <= x1 and y0 <= cy <= y1")
def test_centre_rate(answer_2, example_cams):
    assert answer_2 is not ..., 'not answered yet: replace ... with your answer'
    n = len(example_cams)
    share = float(answer_2)
    assert 0 <= share <= 1, f'a share of canvases lies between 0 and 1, got {share}'
    assert abs(share * n - round(share * n)) < 0.01, f'a share of the {n} maps of example_cams: a whole number of canvases divided by {n}'

