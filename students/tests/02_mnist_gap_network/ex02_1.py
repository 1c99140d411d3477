from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="take the raw map of class labels[1] for digit 1 and average it over all positions")
def test_mean_of_the_map(answer_1, logits, labels):
    from camlib.exercises import expect
    expect(answer_1, logits[1, labels[1]])

