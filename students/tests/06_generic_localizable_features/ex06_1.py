from otter.test_files import test_case

OK_FORMAT = False

name = "ex06_1"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="weight is [10, 64]: M_c = sum over k of weight[c, k] * maps_0[k]; then average over the 7x7 grid and add the bias")
def test_decision_values(answer_1, decisions):
    from camlib.exercises import expect
    expect(answer_1, decisions[0], atol=0.0001, rtol=0.0001)

