from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="count the canvases that are both inside and miss, divide by the number inside")
def test_right_place_wrong_box(answer_2, inside):
    assert answer_2 is not ..., 'not answered yet: replace ... with your answer'
    n = int(inside.sum())
    share = float(answer_2)
    assert 0 <= share <= 1, f'a share of canvases lies between 0 and 1, got {share}'
    assert abs(share * n - round(share * n)) < 0.001, f'a share of the {n} canvases inside: a whole number of canvases divided by {n}'

