
å
6


service.name

checkout


