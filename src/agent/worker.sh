# ssh-ec2 batch worker (being written)
