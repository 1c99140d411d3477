from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="a digit's top probability is the largest of its ten softmax probabilities; the least sure digit is the one whose top probability is smallest")
def test_least_sure(least_sure, probabilities):
    from camlib.exercises import expect
    top = probabilities.max(dim=1).values
    want = int(top.argmin())
    expect(least_sure, want)

