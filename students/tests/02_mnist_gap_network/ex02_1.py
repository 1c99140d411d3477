from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="take the raw map of class second_1 for digit 1 and average it over all its positions")
def test_mean_of_the_map(answer_1, logits, second_1):
    from camlib.lab.exercises import expect
    expect(answer_1, logits[1, second_1])

