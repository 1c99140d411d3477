from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="count the canvases that are both inside and miss, divide by the number inside")
def test_right_place_wrong_box(answer_2, inside, miss):
    from camlib.exercises import expect
    share = float(miss[inside].float().mean())
    expect(answer_2, share, atol=1e-06)

