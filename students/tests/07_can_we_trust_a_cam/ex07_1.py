from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="n steps give n + 1 points spaced 1/n apart: add the points, take half of the first and of the last away, divide by n")
def test_rise_auc(answer_1, curves):
    from camlib.exercises import expect
    expect(answer_1, float(curves['cam'][0].auc[0]), rtol=1e-06)

