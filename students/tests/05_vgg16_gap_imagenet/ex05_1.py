from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="a k x k conv has k*k*C_in*C_out weights + C_out biases; a linear layer n_in*n_out + n_out")
def test_head_parameters(head_parameters):
    from camlib.exercises import expect
    from camlib.models import count_parameters, vgg16_gap
    birds = vgg16_gap(weights=None, num_classes=200)
    counted = count_parameters(birds.features[30]) + count_parameters(birds.classifier)
    expect(head_parameters, counted)

