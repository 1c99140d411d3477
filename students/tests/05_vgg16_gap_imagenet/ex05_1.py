from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="a k x k conv has k*k*C_in*C_out weights + C_out biases; a linear layer n_in*n_out + n_out")
def test_head_parameters(head_parameters):
    from camlib.lab.exercises import expect_fingerprint
    assert head_parameters is not ..., 'not answered yet: replace ... with your answer'
    expect_fingerprint(head_parameters, 'ecbd4405b1f05608', shape=())

